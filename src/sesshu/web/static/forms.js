// Forms whose action cannot be undone (data-no-enter): Enter in a one-line field does not submit.
// The clerk submits with the button; Enter in a textarea still makes a new line.
(function () {
  document.querySelectorAll("form[data-no-enter]").forEach(function (form) {
    form.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key === "Enter" && t.tagName === "INPUT" && t.type !== "submit" && t.type !== "button") {
        e.preventDefault();
      }
    });
  });
}());
