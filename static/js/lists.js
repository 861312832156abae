/* Lists: filters that apply as soon as they change, and row selection for bulk actions.
 * Without this script the filter form has its Filter button and every row checkbox still
 * submits; this only saves clicks.
 */
(function () {
  "use strict";

  function autosubmit(form) {
    form.addEventListener("change", function (event) {
      // Search waits for Enter or leaving the field; a number range for leaving the field.
      if (event.target.type === "search") return;
      form.requestSubmit();
    });
    var search = form.querySelector('input[type="search"]');
    if (search) {
      search.addEventListener("search", function () { form.requestSubmit(); });
    }
    form.classList.add("is-live");
    // On a phone the less used filters fold away behind "More filters".
    var toggle = form.querySelector("[data-filters-toggle]");
    var more = form.querySelector(".filters-more");
    if (toggle && more) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = more.classList.toggle("is-open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  }

  function selection(form) {
    var pageBox = document.querySelector("[data-check-page]");
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-check-row]"));
    var status = form.querySelector("[data-select-status]");
    var allMatching = form.querySelector("[data-select-all-matching]");
    var selectedButton = form.querySelector('button[name="selected"]');
    var initialText = status ? status.textContent : "";
    if (!rows.length) return;
    if (pageBox) pageBox.hidden = false;

    function update() {
      var ticked = rows.filter(function (box) { return box.checked; }).length;
      if (pageBox) {
        pageBox.checked = ticked === rows.length;
        pageBox.indeterminate = ticked > 0 && ticked < rows.length;
      }
      if (selectedButton) selectedButton.disabled = ticked === 0;
      if (status) {
        status.textContent = ticked === 0 ? initialText
          : ticked === rows.length ? "All " + ticked + " on this page are selected."
          : ticked + " selected.";
      }
      if (allMatching) allMatching.hidden = ticked !== rows.length;
    }

    if (pageBox) {
      pageBox.addEventListener("change", function () {
        rows.forEach(function (box) { box.checked = pageBox.checked; });
        update();
      });
    }
    rows.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  function init() {
    document.querySelectorAll("form[data-autosubmit]").forEach(autosubmit);
    var bulk = document.getElementById("bulk-select");
    if (bulk) selection(bulk);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
