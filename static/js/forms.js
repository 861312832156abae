/* Form conveniences, none needed to submit:
 * - data-slug-from / data-slug-to on a form: the slug follows the name until it is edited.
 * - the launch form's base-model select shows only the chosen provider's models (its
 *   optgroups are labelled like the provider options); without this script it stays
 *   grouped by provider and the server refuses a model the provider does not offer.
 */
(function () {
  "use strict";

  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 50);
  }

  function init() {
    document.querySelectorAll("form[data-slug-from]").forEach(function (form) {
      var from = document.getElementById(form.dataset.slugFrom);
      var to = document.getElementById(form.dataset.slugTo);
      if (!from || !to) return;
      var touched = to.value !== "" && to.value !== slugify(from.value);
      to.addEventListener("input", function () { touched = to.value !== ""; });
      from.addEventListener("input", function () { if (!touched) to.value = slugify(from.value); });
    });
    var provider = document.querySelector(".launch-form select[name='provider']");
    var model = document.querySelector(".launch-form select[name='base_model']");
    if (provider && model) {
      var filter = function () {
        var chosen = provider.options[provider.selectedIndex];
        var label = chosen ? chosen.textContent.trim() : "";
        var first = null;
        var keep = false;
        model.querySelectorAll("optgroup").forEach(function (group) {
          var mine = group.label.trim() === label;
          group.hidden = !mine;
          group.disabled = !mine;
          if (mine) {
            first = first || group.querySelector("option");
            if (model.selectedOptions[0] && model.selectedOptions[0].parentNode === group) keep = true;
          }
        });
        if (!keep && first) first.selected = true;
      };
      provider.addEventListener("change", filter);
      filter();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
