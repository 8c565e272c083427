// 対象者検索: searches as the clerk types (kana, name, 宛名番号, birth date…) without reloading the
// page; the results part comes from /search/results as HTML rendered by the server. Enter still
// submits the form the ordinary way.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var box = document.getElementById("search-results");
  if (!form || !box) { return; }
  var timer = null, seq = 0;

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && value.trim() !== "") { params.append(key, value); }
    });
    return params.toString();
  }

  function run() {
    var qs = query(), mine = ++seq;
    box.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-results-url") + "?" + qs, {credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.href = "/login"; return null; }
        return r.text();
      })
      .then(function (html) {
        if (html === null || mine !== seq) { return; }
        box.innerHTML = html;  // server-rendered and escaped by the template
        box.removeAttribute("aria-busy");
        history.replaceState(null, "", qs ? "/search?" + qs : "/search");
      })
      .catch(function () { box.removeAttribute("aria-busy"); });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(run, 300);
  }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
}());
