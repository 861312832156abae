// Keyboard for blind side-by-side review: 1 left better, 2 right better, 3 tie, 4 both bad,
// S skip. Each key presses the matching button of the plain form (which works without this).
(function () {
  "use strict";
  const form = document.getElementById("blind-form");
  if (!form) return;
  let sent = false;
  document.addEventListener("keydown", function (event) {
    if (sent || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    // Typing in a text field is not a verdict; a radio (per-criterion choice) may have focus.
    const typing = target && (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
      (target.tagName === "INPUT" && !/^(radio|checkbox|button|submit)$/.test(target.type)));
    if (typing) return;
    const key = event.key.toLowerCase();
    const button = form.querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    event.preventDefault();
    sent = true;
    form.requestSubmit(button);
  });
})();
