// Person page: 詳細 in the history table opens that record's folded details (and the list around it).
(function () {
  "use strict";
  function reveal(id) {
    var target = id && document.getElementById(id);
    if (!target) { return; }
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") { el.open = true; }
    }
    target.scrollIntoView({block: "start"});
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a.detail-link");
    if (!link) { return; }
    reveal(link.getAttribute("href").slice(1));
  });
  if (location.hash.indexOf("#detail-") === 0) { reveal(location.hash.slice(1)); }
}());
