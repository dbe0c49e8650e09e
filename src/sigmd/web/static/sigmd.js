// Progressive enhancement only: every form works without this file.
// "Add another ... row" buttons copy the last row of their table instead of reloading the page.
(function () {
  "use strict";
  function renumber(row, prefix, index) {
    var pattern = new RegExp("^" + prefix + "\\d+_");
    row.querySelectorAll("[id], [name], label[for]").forEach(function (el) {
      ["id", "name", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value && pattern.test(value)) {
          el.setAttribute(attr, value.replace(pattern, prefix + index + "_"));
        }
      });
    });
    row.querySelectorAll("label").forEach(function (label) {
      label.textContent = label.textContent.replace(/\d+/, String(index + 1));
    });
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; input.removeAttribute("aria-invalid"); });
    row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; select.removeAttribute("aria-invalid"); });
    row.querySelectorAll(".field-error").forEach(function (error) { error.remove(); });
    row.querySelectorAll(".has-error").forEach(function (cell) { cell.classList.remove("has-error"); });
  }
  document.querySelectorAll("button[data-add-row]").forEach(function (button) {
    var prefix = button.getAttribute("data-add-row");
    var body = document.querySelector('table[data-repeat="' + prefix + '"] tbody');
    if (!body) { return; }
    button.addEventListener("click", function (event) {
      var rows = body.querySelectorAll("tr");
      if (!rows.length) { return; }
      event.preventDefault();
      var copy = rows[rows.length - 1].cloneNode(true);
      renumber(copy, prefix, rows.length);
      body.appendChild(copy);
      var first = copy.querySelector("input, select");
      if (first) { first.focus(); }
    });
  });
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
