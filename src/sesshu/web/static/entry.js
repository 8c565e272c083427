// 予診票の手入力: while the clerk types, the form is sent to /records/check (JSON, nothing stored)
// and the person and the schedule engine's verdict are shown beside the form. Enter saves (the
// browser's own submit); the page comes back with a fresh form, focused on 宛名番号.
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  var panel = document.getElementById("entry-verdict");
  if (!form || !panel) { return; }
  var timer = null, seq = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function payload() {
    var out = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token" && key !== "keep" && typeof value === "string") { out[key] = value; }
    });
    return out;
  }

  var warekiFirst = form.getAttribute("data-date-style") !== "western";
  function day(d) {
    if (!d) { return ""; }
    return warekiFirst ? d.wareki + "（" + d.iso + "）" : d.iso + "（" + d.wareki + "）";
  }

  // A definition list whose values are lists of pieces that never break inside (dates).
  function facts(cls, items) {
    var dl = el("dl", cls);
    items.forEach(function (f) {
      if (!f[1] || (Array.isArray(f[1]) && !f[1].length)) { return; }
      var d = el("div"), dd = el("dd");
      d.appendChild(el("dt", "", f[0]));
      (Array.isArray(f[1]) ? f[1] : [f[1]]).forEach(function (piece) { dd.appendChild(el("span", "nw", piece)); });
      d.appendChild(dd);
      dl.appendChild(d);
    });
    return dl;
  }

  function clearInvalid() {
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
  }

  function show(data) {
    panel.textContent = "";
    clearInvalid();
    if (data.person) {
      var p = data.person, box = el("div", "entry-person");
      box.appendChild(el("strong", "", p.name));
      box.appendChild(el("span", "kana", p.name_kana));
      box.appendChild(facts("facts compact", [
        ["宛名番号", p.atena_no], ["生年月日", day({iso: p.birth_date, wareki: p.birth_wareki})], ["性別", p.sex],
        [data.vaccinated_on ? "接種日の年齢" : "今日の年齢", p.age], ["住民区分", p.registry_status],
        ["住所", p.address]]));
      panel.appendChild(box);
    }
    if (data.error) {
      var m = el("p", "msg error", data.error);
      m.setAttribute("role", "alert");
      panel.appendChild(m);
      if (data.error_field) {
        var input = form.querySelector('[name="' + data.error_field + '"]');
        if (input) { input.setAttribute("aria-invalid", "true"); }
      }
    }
    if (data.duplicate) {
      var dup = el("p", "msg error", "この方には同じ接種種別・同じ接種年月日の記録が既にあります（保存できません）");
      dup.setAttribute("role", "alert");
      panel.appendChild(dup);
    }
    var v = data.verdict;
    if (v) {
      var head = el("p", "verdict");
      head.appendChild(el("span", "badge big verdict-" + v.status,
        v.label + (v.dose_number ? "　" + v.dose_number + "回目" : "")));
      panel.appendChild(head);
      if (v.codes.length) {
        var list = el("ul", "codes");
        v.codes.forEach(function (c, i) {
          var li = el("li");
          li.appendChild(el("code", "", c));
          li.appendChild(document.createTextNode(" " + (v.reasons[i] || "")));
          list.appendChild(li);
        });
        panel.appendChild(list);
      } else if (v.reasons.length) {
        v.reasons.forEach(function (r) { panel.appendChild(el("p", "reason", r)); });
      }
      if (v.window) {
        var w = v.window;
        panel.appendChild(facts("facts compact window", [
          ["接種日時点の状態", w.status + (w.next_dose ? "（次は" + w.next_dose + "回目）" : "")],
          ["受けられる期間", w.earliest ? [day(w.earliest) + " 〜", day(w.legal_until)] : ""],
          ["標準的な接種期間", w.standard_from ? [day(w.standard_from) + " 〜", day(w.standard_until)] : ""]]));
      }
    }
    if (!panel.childNodes.length) { panel.appendChild(el("p", "muted", panel.getAttribute("data-empty"))); }
  }

  function check() {
    var mine = ++seq;
    var token = form.querySelector('input[name="csrf_token"]').value;
    fetch(form.getAttribute("data-check-url"), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(payload())
    }).then(function (r) {
      if (r.status === 401) { window.location.href = "/login"; return null; }
      return r.json();
    }).then(function (data) {
      if (data && mine === seq) { show(data); }
    }).catch(function () {
      if (mine === seq) { show({error: "判定を取得できませんでした。通信状態を確認してください"}); }
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 250);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // Enter in any field saves (the browser submits); Escape empties the form for the next 予診票.
  form.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { window.location.href = "/records/new"; }
    if (e.key === "Enter" && e.target.tagName === "SELECT") { e.preventDefault(); form.requestSubmit(); }
  });
  var serverError = form.getAttribute("data-error-field");
  if (serverError) {
    var bad = form.querySelector('[name="' + serverError + '"]');
    if (bad) { bad.setAttribute("aria-invalid", "true"); }
  }
  if (form.querySelector('[name="atena_no"]').value) { check(); }
  var first = form.querySelector("[autofocus]") || form.querySelector('[name="atena_no"]');
  if (first && document.activeElement !== first) { first.focus(); }
}());
