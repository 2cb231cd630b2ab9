// The API reference viewer: renders the server's OpenAPI and AsyncAPI documents
// (same origin, no third-party code, no inline script or style: the page's CSP
// is default-src 'self'). Schemas are shown as nested field lists; $refs link.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

function typeText(schema) {
  if (!schema) return "any";
  if (schema.$ref) return el("a", { href: "#schema-" + refName(schema.$ref) }, refName(schema.$ref));
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const alternatives = schema.anyOf || schema.oneOf;
  if (alternatives) {
    const parts = [];
    alternatives.forEach((alt, i) => {
      if (i) parts.push(" | ");
      parts.push(typeText(alt));
    });
    return el("span", {}, parts);
  }
  if (schema.type === "array") return el("span", {}, "[", typeText(schema.items), "]");
  if (schema.type === "object" && schema.additionalProperties && !schema.properties) {
    return el("span", {}, "{string: ", typeText(schema.additionalProperties), "}");
  }
  const bounds = [];
  if (schema.minimum !== undefined) bounds.push("≥ " + schema.minimum);
  if (schema.maximum !== undefined && schema.maximum < 2 ** 53) bounds.push("≤ " + schema.maximum);
  if (schema.minLength !== undefined) bounds.push("length ≥ " + schema.minLength);
  if (schema.maxLength !== undefined) bounds.push("length ≤ " + schema.maxLength);
  if (schema.pattern) bounds.push(schema.pattern);
  if (schema.format) bounds.push(schema.format);
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  return type + (bounds.length ? " (" + bounds.join(", ") + ")" : "");
}

function schemaView(schema) {
  if (schema && schema.properties) {
    const required = new Set(schema.required || []);
    return el("ul", {}, Object.entries(schema.properties).map(([name, prop]) =>
      el("li", {},
        el("span", { class: required.has(name) ? "" : "optional" }, name + (required.has(name) ? "" : "?")),
        ": ", typeText(prop),
        prop.description ? el("span", { class: "note" }, "  — " + prop.description) : null,
        prop.properties ? schemaView(prop) : null)));
  }
  if (schema && schema.allOf) return el("span", {}, schema.allOf.map((part) => schemaView(part)));
  return el("span", {}, typeText(schema));
}

function restSection(doc) {
  const section = el("section", { id: "rest" }, el("h2", {}, "REST (", doc.info.title, ")"),
    el("p", {}, doc.info.description));
  const byTag = {};
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      (byTag[op.tags ? op.tags[0] : "other"] ||= []).push([method, path, op]);
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    section.append(el("h3", {}, tag));
    for (const [method, path, op] of ops) {
      const box = el("div", { class: "op", id: "op-" + op.operationId },
        el("span", { class: "method " + method }, method), el("span", { class: "path" }, path),
        el("span", { class: "summary" }, op.summary),
        op.security && op.security.length === 0 ? el("span", { class: "note" }, " (no authentication)") : null);
      if (op.parameters && op.parameters.length) {
        box.append(el("div", { class: "label" }, "Parameters"), el("table", {},
          op.parameters.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
            el("td", { class: "schema" }, typeText(p.schema)), el("td", {}, p.description || "")))));
      }
      if (op.requestBody) {
        const media = Object.values(op.requestBody.content)[0];
        box.append(el("div", { class: "label" }, "Body"), el("div", { class: "schema" }, schemaView(media.schema)));
      }
      box.append(el("div", { class: "label" }, "Answers"), el("table", {},
        Object.entries(op.responses).map(([status, response]) => {
          const resolved = response.$ref ? doc.components.responses[refName(response.$ref)] : response;
          const media = resolved.content ? Object.values(resolved.content)[0] : null;
          return el("tr", {}, el("td", {}, status), el("td", {}, resolved.description),
            el("td", { class: "schema" }, media && !response.$ref ? typeText(media.schema) : ""));
        })));
      section.append(box);
    }
  }
  return section;
}

// A payload's fields inline (and its name as a link), resolving one $ref.
function payloadView(schema, schemas) {
  const target = schema && schema.$ref ? schemas[refName(schema.$ref)] : null;
  return el("div", { class: "schema" }, typeText(schema), target ? schemaView(target) : null);
}

function eventsSection(doc) {
  const schemas = doc.components.schemas;
  const section = el("section", { id: "socket" }, el("h2", {}, "Socket.IO (", doc.info.title, ")"),
    el("p", {}, doc.info.description));
  const messages = doc.components.messages;
  const message = (ref) => messages[refName(ref)];
  const serverOps = Object.values(doc.operations).filter((op) => op.action === "send");
  const clientOps = Object.values(doc.operations).filter((op) => op.action === "receive");
  section.append(el("h3", {}, "Client to server (each takes an acknowledgement callback)"));
  for (const op of clientOps) {
    const request = message(op.messages[0].$ref);
    const ack = message(op.reply.messages[0].$ref);
    section.append(el("div", { class: "op" },
      el("span", { class: "method receive" }, "emit"), el("code", {}, request.name),
      el("span", { class: "summary" }, request.summary),
      el("div", { class: "label" }, "Payload"), payloadView(request.payload, schemas),
      el("div", { class: "label" }, "Ack"), el("div", { class: "schema" }, typeText(ack.payload)),
      el("div", { class: "note" }, ack.description || "")));
  }
  section.append(el("h3", {}, "Server to client"));
  for (const op of serverOps) {
    const event = message(op.messages[0].$ref);
    section.append(el("div", { class: "op" },
      el("span", { class: "method send" }, "on"), el("code", {}, event.name),
      el("span", { class: "summary" }, event.summary),
      el("div", { class: "note" }, event.description),
      el("div", { class: "label" }, "Payload"), payloadView(event.payload, schemas)));
  }
  return section;
}

function schemasSection(title, id, schemas) {
  return el("section", { id }, el("h2", {}, title), Object.entries(schemas).map(([name, schema]) =>
    el("div", { class: "op", id: "schema-" + name }, el("h3", {}, name),
      schema.description ? el("p", { class: "note" }, schema.description) : null,
      el("div", { class: "schema" }, schemaView(schema)))));
}

async function load(name) {
  const response = await fetch(name, { credentials: "same-origin" });
  if (!response.ok) throw new Error(name + ": HTTP " + response.status);
  return response.json();
}

async function main() {
  const root = document.getElementById("reference");
  try {
    const [openapi, asyncapi] = await Promise.all([load("openapi.json"), load("asyncapi.json")]);
    // One namespace for schema anchors: AsyncAPI's event payloads beside OpenAPI's bodies.
    const schemas = { ...asyncapi.components.schemas, ...openapi.components.schemas };
    root.replaceChildren(restSection(openapi), eventsSection(asyncapi), schemasSection("Schemas", "schemas", schemas));
    document.getElementById("toc").replaceChildren(
      el("a", { href: "#rest" }, "REST"), el("a", { href: "#socket" }, "Socket.IO"),
      el("a", { href: "#schemas" }, "Schemas"));
  } catch (error) {
    root.replaceChildren(el("p", { class: "error" }, "Could not load the API documents: " + error.message));
  }
}

main();
