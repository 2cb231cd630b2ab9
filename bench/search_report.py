"""The search step's rows in the Targets table and its section of the summary (bench/search.py)."""

from __future__ import annotations

from bench.search import EXTREME_SHAPES, TARGET_P99_MS, TARGET_SHAPES

LABELS = {
    "common": "one common word (~2% of messages)",
    "rare": "one rare word (~40 messages)",
    "two_words": "two words (AND)",
    "prefix": "a prefix (4 letters)",
    "accent": "accent folded (cafe finds café)",
    "one_conversation": "one word, in the searcher's busiest conversation",
    "one_small_conversation": "one word, in one of the searcher's quietest conversations",
    "paging": "pages 2-5 of the common word (cursor)",
    "stopword": "a stopword in half the messages (the)",
    "absent": "a word common elsewhere, absent from the searcher's conversations",
    "one_letter": "a one-letter prefix (t)",
}


def _worst(w: dict) -> tuple[str, float]:
    name = max(TARGET_SHAPES, key=lambda s: w["shapes"].get(s, {}).get("p99_ms", 0))
    return name, w["shapes"].get(name, {}).get("p99_ms", 0)


def _pressure(w: dict) -> str:
    during = w.get("cpu_pressure_avg10_during") or []
    start = (w.get("quiet_at_start") or {}).get("cpu_pressure_avg10")
    if not during:
        return ""
    return (f"The machine is shared: CPU pressure (PSI some avg10) {start}% when the queries started, "
            f"{min(during)}-{max(during)}% while they ran.")


def target_rows(search: dict) -> list[dict]:
    rows = []
    for db, w in search.items():
        name, p99 = _worst(w)
        missing = [s for s in TARGET_SHAPES if s not in w["shapes"]]
        rows.append({
            "target": f"message search, {db}",
            "goal": f"p99 <= {TARGET_P99_MS} ms per query shape at 1M messages (issue 15)",
            "measured": f"worst shape {name}: p99 {p99} ms over HTTP ({w['messages']:,} messages; "
                        + ", ".join(f"{s} {w['shapes'][s]['p99_ms']}" for s in TARGET_SHAPES if s in w["shapes"])
                        + " ms)" + (f"; missing {missing}" if missing else ""),
            "met": p99 <= TARGET_P99_MS and not missing and w["messages"] >= 1_000_000,
        })
    return rows


def lines(search: dict) -> list[str]:
    out: list[str] = []
    for db, w in search.items():
        load = w["load_seconds"]
        out += [
            "", f"## Search: GET /api/v1/search/messages ({db}, {w['messages']:,} messages)", "",
            f"Bulk load by SQL with the index maintained by the database as rows go in: {load['messages']} s for the "
            f"messages, {load.get('vacuum_analyze', 0)} s of ANALYZE/VACUUM after. The searcher belongs to "
            f"{w['searcher_conversations']} conversations holding {w['searcher_messages']:,} messages "
            f"({w['searcher_messages'] / w['messages']:.1%}); their busiest has "
            f"{w['busiest_conversation_messages']:,}, the quiet one {w['small_conversation_messages']:,}. "
            "Words planted by the loader (messages holding each): "
            + ", ".join(f"{word} {count:,}" for word, count in sorted(w.get("planted", {}).items()))
            + ". One client, one request at a time over HTTP on "
            "loopback (keep-alive), shapes interleaved, limit 20. "
            + _pressure(w), "",
            "| shape | q | results on page 1 | p50 (ms) | p99 (ms) | max (ms) | samples |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in (*TARGET_SHAPES, *EXTREME_SHAPES):
            s = w["shapes"].get(name)
            if not s:
                continue
            label = LABELS[name] + ("" if name in TARGET_SHAPES else " *(extreme, outside the target)*")
            q = s["params"].get("q", "")
            more = "+" if s["has_next"] else ""
            out.append(f"| {label} | `{q}` | {s['results']}{more} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | "
                       f"{s['samples']} |")
        c = w["write_cost"]
        out += ["", f"Index cost on the write path (one message per INSERT transaction, straight through the driver, "
                    f"{c['inserts_each']} each, {c['layout']}): median {c['with_index_us']} µs with the index against "
                    f"{c['without_index_us']} µs without, so **{c['index_us']} µs per message** "
                    f"(p99 {c['with_p99_us']} against {c['without_p99_us']} µs)."]
    return out
