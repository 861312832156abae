/* Form conveniences, none needed to submit:
 * - data-slug-from / data-slug-to on a form: the slug follows the name until it is edited.
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
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
