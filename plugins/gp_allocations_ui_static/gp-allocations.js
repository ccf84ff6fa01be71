/*
 * Browse > GP allocations: the runs of gp_allocations_nightly, and one run with ?run_id=.
 * Rendered by the Airflow UI itself (React app plugin): React and Chakra UI come from the host
 * (globalThis.React, globalThis.ChakraUI), so the page has Airflow's look, fonts and dark mode.
 * Plain JavaScript, no build step. Data: GET /gp-allocations/api/runs[/<run_id>] (same login).
 */
(function () {
  "use strict";
  var React = globalThis.React;
  var UI = globalThis.ChakraUI;
  var h = React.createElement;
  var API = "/gp-allocations/api/runs";

  // Airflow's own state colour palettes, so a published run looks like a successful task.
  var PALETTE = {
    published: "success",
    unchanged: "success",
    "not yet available": "skipped",
    running: "running",
    failed: "failed",
    "not published": "upstream_failed",
    "awaiting sign-off": "deferred",
    rejected: "skipped",
  };

  function base() {
    var el = document.querySelector("base");
    var href = el ? el.getAttribute("href") || "/" : "/";
    return href.replace(/\/$/, "");
  }

  function useJson(url) {
    var s = React.useState({ loading: true });
    var state = s[0], set = s[1];
    React.useEffect(function () {
      var alive = true;
      fetch(base() + url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(r.status === 403 ? "You may not read this DAG's runs." : "HTTP " + r.status);
          return r.json();
        })
        .then(function (data) { if (alive) set({ data: data }); })
        .catch(function (e) { if (alive) set({ error: String(e.message || e) }); });
      return function () { alive = false; };
    }, [url]);
    return state;
  }

  function Status(props) {
    var o = props.outcome || {};
    return h(UI.Badge, { colorPalette: PALETTE[o.status] || "gray", variant: "solid", title: o.detail }, o.status);
  }

  function A(props) {
    if (!props.href) return h(UI.Text, { as: "span", color: "fg.muted" }, props.none || "none");
    return h(UI.Link, { href: base() + props.href, color: "fg.info", target: props.target, rel: "noopener" }, props.children);
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  // an outcome's detail ("new version published") as the start of a sentence
  function sentence(text) { return text ? text.charAt(0).toUpperCase() + text.slice(1) : ""; }

  function subIcbNames(subs) {
    if (!subs.length) return h(UI.Text, { as: "span", color: "fg.muted" }, "none");
    var shown = subs.slice(0, 3).map(function (s) { return s.code + " " + s.name; }).join("; ");
    return h(UI.Text, { as: "span", title: subs.map(function (s) { return s.code + " " + s.name; }).join("\n") },
      shown + (subs.length > 3 ? " and " + (subs.length - 3) + " more" : ""));
  }

  function Cell(props) { return h(UI.Table.Cell, { verticalAlign: "top" }, props.children); }
  function Head(props) { return h(UI.Table.ColumnHeader, null, props.children); }

  function RunsTable(props) {
    var runs = props.runs;
    if (!runs.length) return h(UI.Text, null, "No runs yet.");
    return h(UI.Table.Root, { size: "sm", striped: true, "data-testid": "gp-runs" },
      h(UI.Table.Header, null, h(UI.Table.Row, null,
        h(Head, null, "Period"), h(Head, null, "Run"), h(Head, null, "Status"), h(Head, null, "Validation"),
        h(Head, null, "Sub-ICB locations"), h(Head, null, "Links"))),
      h(UI.Table.Body, null, runs.map(function (r) {
        return h(UI.Table.Row, { key: r.run_id },
          h(Cell, null, r.period || "", r.latest ? h(UI.Badge, { ml: 2, colorPalette: "blue", title: "finance reads this version" }, "latest") : null),
          h(Cell, null, h(UI.Link, { href: "?run_id=" + encodeURIComponent(r.run_id), color: "fg.info" }, r.run_id),
            h(UI.Text, { fontSize: "xs", color: "fg.muted" }, r.run_type + ", " + when(r.run_after))),
          h(Cell, null, h(Status, { outcome: r.outcome }), h(UI.Text, { fontSize: "xs", color: "fg.muted" }, r.outcome.detail)),
          h(Cell, null, r.validation.status + (r.validation.warnings ? " (" + r.validation.warnings + " warnings)" : "")),
          h(Cell, null, subIcbNames(r.sub_icbs)),
          h(Cell, null, h(UI.HStack, { gap: 3, wrap: "wrap" },
            h(A, { href: r.links.validation_report, target: "_blank", none: "no report" }, "Validation report"),
            r.links.manifest ? h(A, { href: r.links.manifest, target: "_blank" }, "Manifest") : null,
            h(UI.Link, { href: base() + "/" + r.links.run, color: "fg.info" }, "Airflow run"))));
      })));
  }

  function RunPage(props) {
    var state = useJson(API + "/" + encodeURIComponent(props.runId));
    if (state.loading) return h(UI.Spinner, null);
    if (state.error) return h(UI.Text, { color: "fg.error" }, state.error);
    var r = state.data;
    return h(UI.VStack, { align: "stretch", gap: 4 },
      h(UI.HStack, { gap: 3 }, h(UI.Heading, { size: "md" }, "Run " + r.run_id), h(Status, { outcome: r.outcome }),
        r.latest ? h(UI.Badge, { colorPalette: "blue" }, "latest") : null),
      h(UI.Text, null, "Period " + (r.period || "?") + ". " + sentence(r.outcome.detail) + ". Validation " + r.validation.status +
        " (" + r.validation.errors + " errors, " + r.validation.warnings + " warnings)."),
      h(UI.HStack, { gap: 4 },
        h(A, { href: r.links.validation_report, target: "_blank", none: "No validation report for this run." }, "Validation report (Great Expectations Data Docs)"),
        r.links.manifest ? h(A, { href: r.links.manifest, target: "_blank" }, "manifest.json") : null,
        h(UI.Link, { href: base() + "/" + r.links.run, color: "fg.info" }, "Airflow run"),
        h(UI.Link, { href: "?", color: "fg.info" }, "All runs")),
      r.staged && r.sub_icbs.length
        ? h(UI.Text, { fontWeight: "bold", "data-testid": "gp-staged" }, "Staged workbooks: not published, latest is unchanged")
        : null,
      r.sub_icbs.length
        ? h(UI.Table.Root, { size: "sm", striped: true, "data-testid": "gp-sub-icbs" },
            h(UI.Table.Header, null, h(UI.Table.Row, null, h(Head, null, "Sub-ICB code"), h(Head, null, "Sub-ICB location"),
              h(Head, null, "Practices"), h(Head, null, "Workbook"), h(Head, null, "Practice statements"))),
            h(UI.Table.Body, null, r.sub_icbs.map(function (s) {
              return h(UI.Table.Row, { key: s.code }, h(Cell, null, s.code), h(Cell, null, s.name), h(Cell, null, s.rows),
                h(Cell, null, h(A, { href: s.url }, s.file)), h(Cell, null, h(A, { href: s.statements_url }, s.statements)));
            })))
        : h(UI.Text, { color: "fg.muted" }, "Nothing published by this run."));
  }

  function RunsPage() {
    var state = useJson(API);
    if (state.loading) return h(UI.Spinner, null);
    if (state.error) return h(UI.Text, { color: "fg.error" }, state.error);
    return h(UI.VStack, { align: "stretch", gap: 3 },
      h(UI.Heading, { size: "md" }, "GP allocations: runs of " + state.data.dag_id),
      h(UI.Text, { color: "fg.muted" }, "Newest first. \u201clatest\u201d marks the version finance teams read for each period."),
      h(RunsTable, { runs: state.data.runs }));
  }

  function GpAllocations() {
    var runId = new URLSearchParams(window.location.search).get("run_id");
    return h(UI.Box, { p: 4 }, runId ? h(RunPage, { runId: runId }) : h(RunsPage, null));
  }

  globalThis.AirflowPlugin = GpAllocations;
})();
