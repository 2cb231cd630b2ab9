/** Display helpers: initials, times, day labels. Locale-aware through Intl. */

export function initials(name: string): string {
  const parts = name.trim().split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length >= 2 ? [parts[0], parts[1]] : [parts[0] ?? "?"];
  return letters.map((p) => [...p][0]?.toUpperCase() ?? "").join("").slice(0, 2) || "?";
}

/** A stable hue per id so each person keeps their avatar colour. */
export function hue(id: number): number {
  return (id * 137) % 360;
}

export function timeOf(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const that = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const diff = Math.round((today.getTime() - that.getTime()) / 86_400_000);
  if (diff === 0) return "Today";
  if (diff === 1) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", year: diff > 300 ? "numeric" : undefined });
}

/** List timestamp: time today, weekday this week, date otherwise. */
export function shortWhen(iso: string, now = new Date()): string {
  if (!iso) return "";
  const label = dayLabel(iso, now);
  return label === "Today" ? timeOf(iso) : label;
}
