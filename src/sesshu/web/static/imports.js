// 取込の状況: polls the job's status every second until it has finished, then shows the summary
// (and reloads the page once, for the server to list the verdicts and the refused rows).
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box || box.getAttribute("data-finished") === "true") { return; }
  var url = box.getAttribute("data-status-url");
  function fmt(n) { return Number(n || 0).toLocaleString("ja-JP"); }
  function update(job) {
    var badge = document.getElementById("job-status");
    badge.textContent = job.status_label;
    badge.className = "badge job-" + job.status;
    document.getElementById("job-count").textContent = fmt(job.read) + " / 約" + fmt(job.total_rows) + "行";
    var bar = document.getElementById("job-progress");
    bar.value = job.percent; bar.textContent = job.percent + "%";
    var msg = document.getElementById("job-message");
    msg.textContent = job.message; msg.hidden = !job.message;
    if (job.status === "done") {
      var s = job.summary;
      s.evaluated_persons = job.evaluated_persons;
      document.querySelectorAll("#job-summary [data-key]").forEach(function (dd) {
        dd.textContent = fmt(s[dd.getAttribute("data-key")]);
      });
      var bad = (s.rejected || 0) + (s.duplicates || 0);
      document.getElementById("job-rejects").hidden = !bad;
      document.getElementById("job-clean").hidden = !!bad;
      document.getElementById("job-summary").hidden = false;
      // The verdicts of the stored records and the refused rows are listed by the server.
      window.location.reload();
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        update(job);
        if (!job.finished) { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
}());
