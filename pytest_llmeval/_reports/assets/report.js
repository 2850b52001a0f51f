// pytest-llmeval HTML report. Model output, dataset values and feature text are untrusted:
// everything from the data is put on the page as text (createElement + textContent), never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("llmeval-data").textContent);
  var report = data.report;
  var cases = report.cases;
  var PAGE = 500;

  function el(tag, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(1) + "%"; }
  function ci(iv) { return iv ? pct(iv[0]) + " – " + pct(iv[1]) : ""; }
  function usd(x) { return x === null || x === undefined ? "n/a" : "$" + x.toFixed(4); }
  function pval(p) { return p === null || p === undefined ? "" : p < 0.0001 ? p.toExponential(2) : p.toFixed(4); }
  function badge(verdict) { return el("span", "badge v-" + verdict, verdict); }
  function row(cells, numeric) {
    var tr = el("tr");
    cells.forEach(function (c, i) { tr.appendChild(el("td", numeric && numeric[i] ? "num" : "", c)); });
    return tr;
  }
  function table(head, rows, numeric) {
    var thead = el("tr");
    head.forEach(function (h, i) { thead.appendChild(el("th", numeric && numeric[i] ? "num" : "", h)); });
    var body = el("tbody");
    rows.forEach(function (r) { body.appendChild(row(r, numeric)); });
    return el("table", "", el("thead", "", thead), body);
  }
  function section(title, id) {
    var s = el("section");
    if (id) s.id = id;
    s.appendChild(el("h2", "", title));
    document.getElementById("app").appendChild(s);
    return s;
  }

  // ---- header, gates, run metadata -------------------------------------------------------------
  var app = document.getElementById("app");
  app.appendChild(el("h1", "", "LLM eval results"));
  var o = report.overall;
  app.appendChild(el("p", "muted", o.passed + "/" + o.decided + " cases passed (" + pct(o.pass_rate) + ", 95% " +
    ci(data.intervals.overall) + ") · " + o.samples + " samples · " + o.tokens + " tokens · " + usd(o.cost_usd) +
    " · written " + report.created_at + " by pytest-llmeval " + report.plugin_version));
  if (report.partial) app.appendChild(el("div", "banner partial", "Partial run (" + report.partial + "): not every selected test ran."));
  report.gates.forEach(function (g) { app.appendChild(el("div", "banner gate", g)); });

  // ---- summaries ---------------------------------------------------------------------------------
  var N = [false, true, true, false, true, true, true, true, true, true, true];
  var groups = section("Summary per group", "groups");
  groups.appendChild(table(
    ["group", "passed", "pass rate", "95% interval", "cases", "failed", "errored", "inconclusive", "samples", "tokens", "cost"],
    report.groups.concat([o]).map(function (g) {
      return [g.group, g.passed + "/" + g.decided, pct(g.pass_rate), ci(data.intervals[g === o ? "overall" : "group:" + g.group]),
        g.cases, g.failed, g.errored, g.inconclusive, g.samples, g.tokens, usd(g.cost_usd)];
    }), N));

  if (report.models.length) {
    var models = section("Models side by side", "models");
    models.appendChild(table(["model", "passed", "pass rate", "95% interval", "sample pass rate", "tokens", "cost", "request seconds"],
      report.models.map(function (m) {
        return [m.model, m.passed + "/" + m.decided, pct(m.pass_rate), ci(m.interval), pct(m.sample_pass_rate), m.tokens,
          usd(m.cost_usd), m.latency_s.toFixed(1)];
      }), [false, true, true, true, true, true, true, true]));
    if (report.comparisons.length) {
      models.appendChild(table(["comparison", "shared cases", "mean difference", "better / worse", "sign test p"],
        report.comparisons.map(function (c) {
          return [c.model_b + " vs " + c.model_a, c.shared_cases,
            c.mean_difference === null ? "n/a" : (c.mean_difference >= 0 ? "+" : "") + pct(c.mean_difference),
            c.b_better + " / " + c.a_better, pval(c.p_value)];
        }), [false, true, true, true, true]));
    }
  }
  if (report.variants.length) {
    var variants = section("Prompt variants side by side", "variants");
    variants.appendChild(table(["variant", "prompt", "passed", "pass rate", "95% interval", "tokens", "cost"],
      report.variants.map(function (v) {
        return [v.variant, v.prompt, v.passed + "/" + v.decided, pct(v.pass_rate), ci(v.interval), v.tokens, usd(v.cost_usd)];
      }), [false, false, true, true, true, true, true]));
    if (report.variant_comparisons.length) {
      variants.appendChild(table(["comparison", "shared cases", "mean difference", "better / worse", "sign test p", "verdict"],
        report.variant_comparisons.map(function (c) {
          return [c.variant_b + " vs " + c.variant_a, c.shared_cases,
            c.mean_difference === null ? "n/a" : (c.mean_difference >= 0 ? "+" : "") + pct(c.mean_difference),
            c.b_better + " / " + c.a_better, pval(c.p_value), c.better ? c.better + " is better" : "no significant difference"];
        }), [false, true, true, true, true, false]));
    }
  }
  var b = report.baseline;
  if (b) {
    var base = section("Baseline", "baseline");
    var counts = ["regressed", "improved", "unchanged", "new", "removed"].map(function (k) {
      return b.changes.filter(function (c) { return c.change === k; }).length + " " + k;
    }).join(", ");
    base.appendChild(el("p", "", b.path + ": " + counts + ", " + b.changes.filter(function (c) { return c.redefined; }).length +
      " redefined · suite: " + b.shared_cases + " shared cases, mean change " +
      (b.mean_difference === null ? "n/a" : pct(b.mean_difference)) + ", paired sign test p = " + pval(b.suite_p_value) +
      " (alpha " + b.alpha + ")"));
    var notable = b.changes.filter(function (c) { return c.change !== "unchanged" || c.redefined; });
    if (notable.length) {
      base.appendChild(table(["change", "case", "model", "before", "after", "p (Holm)"],
        notable.map(function (c) {
          return [el("span", "c-" + c.change, c.change + (c.redefined ? " (redefined)" : "")), c.case_id, c.model,
            c.before || "–", c.after || "–", pval(c.p_value)];
        })));
    }
  }

  // ---- cases: filters, search, rows with details on demand -------------------------------------
  var casesSection = section("Cases", "cases");
  var controls = el("div", "controls");
  var FILTERS = [["all", "all"], ["failed", "failed"], ["errored", "errored"], ["inconclusive", "inconclusive"], ["regressed", "regressed"]];
  var state = { filter: cases.some(function (c) { return c.verdict !== "pass"; }) ? "failed" : "all", query: "", shown: PAGE };
  if (state.filter === "failed" && !cases.some(function (c) { return c.verdict === "fail"; })) state.filter = "all";
  var buttons = {};
  FILTERS.forEach(function (f) {
    var btn = el("button", "", f[1]);
    btn.type = "button";
    btn.setAttribute("data-filter", f[0]);
    btn.addEventListener("click", function () { state.filter = f[0]; state.shown = PAGE; render(); });
    buttons[f[0]] = btn;
    controls.appendChild(btn);
  });
  var search = el("input");
  search.type = "search";
  search.id = "search";
  search.placeholder = "search case, group, model, answers…";
  var timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.query = search.value.toLowerCase(); state.shown = PAGE; render(); }, 120);
  });
  controls.appendChild(search);
  var count = el("span", "muted");
  count.id = "count";
  controls.appendChild(count);
  casesSection.appendChild(controls);
  var HEAD = ["verdict", "case", "group", "model", "passes", "pass rate", "95% interval", "tokens", "cost", "seconds", "cached", "baseline"];
  var NUM = [false, false, false, false, true, true, true, true, true, true, true, false];
  var caseTable = table(HEAD, [], NUM);
  caseTable.id = "case-table";
  var tbody = caseTable.tBodies[0];
  casesSection.appendChild(caseTable);
  var more = el("button", "", "");
  more.id = "more";
  more.type = "button";
  more.addEventListener("click", function () { state.shown += PAGE; render(); });
  casesSection.appendChild(more);

  var haystacks = [];
  function haystack(i) {
    if (haystacks[i] === undefined) {
      var c = cases[i];
      var parts = [c.case_id, c.group, c.model, c.nodeid, c.reason || "", c.variant || ""];
      c.sample_records.forEach(function (s) {
        parts.push(s.answer || "", s.error || "");
        (s.tool_calls || []).forEach(function (t) { parts.push(t.name, t.arguments, t.result || ""); });
      });
      haystacks[i] = parts.join("\n").toLowerCase();
    }
    return haystacks[i];
  }
  function matches(i) {
    var c = cases[i];
    var f = state.filter;
    if (f === "failed" && c.verdict !== "fail") return false;
    if (f === "errored" && c.verdict !== "error") return false;
    if (f === "inconclusive" && c.verdict !== "inconclusive") return false;
    if (f === "regressed" && data.changes[i] !== "regressed") return false;
    return !state.query || haystack(i).indexOf(state.query) !== -1;
  }
  function caseRow(i) {
    var c = cases[i];
    var change = data.changes[i];
    var tr = row([badge(c.verdict), c.case_id, c.group, c.model, c.passes + "/" + (c.passes + c.failures),
      pct(c.pass_rate), ci(c.interval), c.usage.total_tokens, usd(c.cost_usd), c.latency_s.toFixed(2),
      c.cache_hits + "/" + c.samples, change ? el("span", "c-" + change, change + (data.redefined[i] ? " (redefined)" : "")) : ""], NUM);
    tr.className = "case";
    tr.setAttribute("data-index", String(i));
    tr.addEventListener("click", function () {
      var next = tr.nextSibling;
      if (next && next.className === "detail") { tbody.removeChild(next); return; }
      var td = el("td", "", detail(i));
      td.colSpan = HEAD.length;
      tbody.insertBefore(el("tr", "detail", td), next);
    });
    return tr;
  }
  function content(value) {
    if (typeof value === "string") return value;
    if (Array.isArray(value)) {
      return value.map(function (part) {
        if (part && part.type === "text") return part.text;
        if (part && part.type) return "[" + part.type + "]";
        return JSON.stringify(part);
      }).join("\n");
    }
    return JSON.stringify(value, null, 2);
  }
  // A sample's tool calls, in the order made: the function, its arguments (indented when they
  // are JSON, as the model wrote them when not), and the result it was answered with or the
  // error of the tool function. Names, arguments and results are model or tool output: text only.
  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }
  function toolCalls(calls) {
    var list = el("div", "tool-calls", el("div", "muted", calls.length + " tool call" + (calls.length === 1 ? "" : "s")));
    calls.forEach(function (t) {
      var call = el("div", "tool-call", el("div", "", el("code", "tool-name", t.name), el("span", "muted",
        " · round " + (t.round || 0) + " · id " + t.id)));
      call.appendChild(el("pre", "tool-args", pretty(t.arguments)));
      // A failed tool function's message is what the model was sent: shown once, as the error.
      if (t.error) {
        call.appendChild(el("div", "grade", el("span", "err", "error: "), t.error));
      } else if (t.result !== null && t.result !== undefined) {
        call.appendChild(el("div", "muted", "result:"));
        call.appendChild(el("pre", "tool-result", t.result));
      } else {
        call.appendChild(el("div", "muted", "not answered"));
      }
      list.appendChild(call);
    });
    return list;
  }
  function detail(i) {
    var c = cases[i];
    var box = el("div", "case-detail");
    var meta = el("dl", "meta");
    [["node id", c.nodeid], ["threshold", pct(c.threshold)], ["fingerprint", c.fingerprint],
     ["tokens", c.usage.prompt_tokens + " prompt + " + c.usage.completion_tokens + " completion"],
     ["variant", c.variant], ["reason", c.reason]].forEach(function (kv) {
      if (kv[1] === null || kv[1] === undefined || kv[1] === "") return;
      meta.appendChild(el("dt", "", kv[0]));
      meta.appendChild(el("dd", "", kv[1]));
    });
    box.appendChild(meta);
    if (c.messages && c.messages.length) {
      box.appendChild(el("h3", "", "Messages sent"));
      c.messages.forEach(function (m) {
        box.appendChild(el("div", "msg", el("span", "role", m.role || "?"), el("pre", "", content(m.content))));
      });
    }
    if (c.tools && c.tools.length) {
      box.appendChild(el("h3", "", "Tools offered"));
      box.appendChild(el("pre", "tools", JSON.stringify(c.tools, null, 2)));
    }
    if (c.row && Object.keys(c.row).length) {
      box.appendChild(el("h3", "", "Row"));
      box.appendChild(el("pre", "", JSON.stringify(c.row, null, 2)));
    }
    box.appendChild(el("h3", "", "Samples"));
    c.sample_records.forEach(function (s) {
      var div = el("div", "sample o-" + s.outcome);
      div.appendChild(el("div", "", el("strong", "", "sample " + s.index + ": " + s.outcome), el("span", "muted",
        " · " + s.usage.total_tokens + " tokens · " + s.latency_s.toFixed(2) + " s · " + (s.cached ? "cached" : "not cached") +
        (s.finish_reason ? " · finish " + s.finish_reason : ""))));
      if (s.tool_calls && s.tool_calls.length) div.appendChild(toolCalls(s.tool_calls));
      if (s.answer !== null && (s.answer !== "" || !(s.tool_calls && s.tool_calls.length))) div.appendChild(el("pre", "answer", s.answer));
      if (s.error) div.appendChild(el("div", "grade", el("span", "err", "error: "), s.error));
      s.grades.forEach(function (g) {
        var mark = g.error ? el("span", "err", "error") : g.passed ? el("span", "ok", "pass") : el("span", "no", "fail");
        var line = el("div", "grade", mark, " " + g.grader + " (score " + g.score + "): " + g.reason);
        div.appendChild(line);
        var rest = {};
        Object.keys(g.details || {}).forEach(function (k) { if (k !== "reasoning") rest[k] = g.details[k]; });
        if (g.details && g.details.reasoning) div.appendChild(el("div", "grade muted", "judge's reasoning: " + content(g.details.reasoning)));
        if (Object.keys(rest).length) div.appendChild(el("pre", "details", JSON.stringify(rest, null, 2)));
      });
      box.appendChild(div);
    });
    return box;
  }
  function render() {
    Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-pressed", String(k === state.filter)); });
    var fresh = el("tbody");
    var total = 0;
    for (var i = 0; i < cases.length; i++) {
      if (!matches(i)) continue;
      total++;
      if (total <= state.shown) fresh.appendChild(caseRow(i));
    }
    caseTable.replaceChild(fresh, tbody);
    tbody = fresh;
    count.textContent = "showing " + Math.min(total, state.shown) + " of " + total + " matching (" + cases.length + " cases)";
    more.hidden = total <= state.shown;
    more.textContent = "show " + Math.min(PAGE, total - state.shown) + " more";
  }
  render();

  // ---- run metadata ------------------------------------------------------------------------------
  var run = report.run;
  var metaSection = section("Run", "run");
  var dl = el("dl", "meta");
  var items = [["written", report.created_at], ["plugin version", report.plugin_version]];
  if (run) {
    items.push(["models", run.models.join(", ")], ["started", run.started_at],
      ["duration", run.duration_s === null ? null : run.duration_s.toFixed(1) + " s"], ["python", run.python], ["pytest", run.pytest],
      ["shards", run.shards.join(", ")]);
    Object.keys(run.options).forEach(function (k) { items.push([k, run.options[k]]); });
  }
  items.forEach(function (kv) {
    if (kv[1] === null || kv[1] === undefined || kv[1] === "") return;
    dl.appendChild(el("dt", "", kv[0]));
    dl.appendChild(el("dd", "", kv[1]));
  });
  metaSection.appendChild(dl);
  document.body.setAttribute("data-ready", "true");
})();
