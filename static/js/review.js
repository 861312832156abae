/* Review page: keyboard shortcuts, htmx decisions, and the next conversation prefetched.
 *
 * Without this script the page is plain forms and links. With it:
 * - 1-5 score the highlighted criterion, arrows / Tab move between criteria,
 *   A approve, R reject, S skip, E edit the last assistant reply, J/K next/previous,
 *   C comment, ? help.
 * - While a conversation is on screen the next one is fetched (and leased) in the
 *   background; a decision swaps it in at once and posts the decision alongside.
 * Conversation text only ever reaches the page as server-rendered, escaped HTML.
 */
(function () {
  "use strict";

  var PANEL = "#review-panel";
  var focusIndex = 0;
  var shownAt = performance.now();
  var currentPanel = null;
  var prefetched = null; // {forId: "12", html: "..."}
  var submitted = new Set();
  var inFlight = []; // decision requests not answered yet

  function panel() { return document.querySelector(PANEL); }
  function form() { return document.getElementById("review-form"); }
  function criteria() { return Array.prototype.slice.call(document.querySelectorAll("#review-form .criterion")); }

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    return tag === "INPUT" && ["radio", "checkbox", "button", "submit", "hidden"].indexOf(el.type) < 0;
  }

  function setFocus(index, moveDomFocus, keepScroll) {
    var list = criteria();
    if (!list.length) return;
    focusIndex = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (fieldset, n) { fieldset.classList.toggle("is-focused", n === focusIndex); });
    if (moveDomFocus !== false) {
      var target = list[focusIndex].querySelector("input:checked") || list[focusIndex].querySelector("input");
      if (target) target.focus({ preventScroll: !!keepScroll });
    }
  }

  function score(value) {
    var list = criteria();
    if (!list.length) return;
    var input = list[focusIndex].querySelector('input[value="' + value + '"]');
    if (input) {
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    if (focusIndex < list.length - 1) setFocus(focusIndex + 1);
    else setFocus(focusIndex);
  }

  function allScored() {
    return criteria().every(function (fieldset) { return fieldset.querySelector("input:checked"); });
  }

  function showError(text) {
    var p = panel();
    if (!p) return;
    var box = p.querySelector(".js-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "message error js-error";
      box.setAttribute("role", "alert");
      var head = p.querySelector(".review-head");
      if (head) head.after(box); else p.prepend(box);
    }
    box.textContent = text;
  }

  function prefetch(alsoExclude) {
    var p = panel();
    if (!p || !p.dataset.prefetchUrl) return;
    var forId = p.dataset.conversation;
    var url = p.dataset.prefetchUrl;
    (alsoExclude || []).forEach(function (id) { url += "&exclude=" + encodeURIComponent(id); });
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.status === 200 ? response.text() : null; })
      .then(function (html) {
        var now = panel();
        if (html && now && now.dataset.conversation === forId) prefetched = { forId: forId, html: html };
      })
      .catch(function () { /* no prefetch: the decision's response brings the next one */ });
  }

  function onPanel() {
    var p = panel();
    if (!p || p === currentPanel) return;
    // The next conversation is read from its top (on a phone the decision was made at the bottom).
    if (currentPanel && p.getBoundingClientRect().top < 0) p.scrollIntoView({ block: "start" });
    currentPanel = p;
    prefetched = null;
    shownAt = performance.now();
    var list = criteria();
    var firstOpen = list.findIndex(function (fieldset) { return !fieldset.querySelector("input:checked"); });
    // A new conversation starts at its top, also where the scores sit below the chat.
    if (list.length) setFocus(firstOpen < 0 ? 0 : firstOpen, true, true);
    prefetch(Array.from(submitted));
  }

  function swapIn(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.querySelector(PANEL);
    if (!fresh) return false;
    panel().replaceWith(fresh);
    htmx.process(fresh);
    if (fresh.dataset.url) history.pushState({}, "", fresh.dataset.url);
    onPanel();
    return true;
  }

  function decide(action) {
    var p = panel();
    var f = form();
    if (!p || !f) return;
    var fromId = p.dataset.conversation;
    if (submitted.has(fromId)) return;
    if (action === "approve" && !allScored()) {
      showError("Score every criterion before approving.");
      return;
    }
    var values = {};
    new FormData(f).forEach(function (value, key) { values[key] = value; });
    values.action = action;
    values.elapsed_ms = String(Math.round(performance.now() - shownAt));
    var url = f.getAttribute("action");
    submitted.add(fromId);
    var request;
    if (prefetched && prefetched.forId === fromId && swapIn(prefetched.html)) {
      if (action !== "skip") linkPrevious();
      confirm(DONE[action] + " conversation " + fromId + ".");
      // The server answers 204; on a problem it sends this conversation back with the reason.
      request = htmx.ajax("POST", url, { target: PANEL, swap: "outerHTML", values: values,
                                         headers: { "X-Curator-Prefetched": "1" } });
    } else {
      // No prefetched page to show: the answer brings the next one; until then the form
      // says it is working and takes no second decision.
      busy(f, action);
      request = htmx.ajax("POST", url, { target: PANEL, swap: "outerHTML", values: values });
    }
    var settled = Promise.resolve(request).catch(function () {}).then(function () {
      submitted.delete(fromId);
      inFlight = inFlight.filter(function (item) { return item !== settled; });
    });
    inFlight.push(settled);
  }

  var DONE = { approve: "Approved", reject: "Rejected", skip: "Skipped" };

  function confirm(text) {
    var toast = document.querySelector(PANEL + " [data-toast]");
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
  }

  function busy(f, action) {
    f.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
      if (button.value === action) button.classList.add("is-busy");
    });
  }

  // A prefetched panel was rendered before this decision existed, so it may lack the
  // visible link back; add it (K works regardless: the server works out the step).
  function linkPrevious() {
    var p = panel();
    if (!p || !p.dataset.prevUrl) return;
    var url = p.dataset.prevUrl;
    var nav = p.querySelector(".review-nav");
    if (!nav || nav.querySelector('a[rel="prev"]')) return;
    var link = document.createElement("a");
    link.href = url;
    link.rel = "prev";
    link.setAttribute("hx-get", url);
    link.setAttribute("hx-target", PANEL);
    link.setAttribute("hx-swap", "outerHTML");
    link.textContent = "\u2190 Previous ";
    var key = document.createElement("kbd");
    key.textContent = "K";
    link.appendChild(key);
    nav.prepend(link);
    htmx.process(link);
  }

  // History steps wait for decisions still on their way, so the history includes them.
  function go(url) {
    if (!url) return;
    Promise.all(inFlight).then(function () {
      htmx.ajax("GET", url, { target: PANEL, swap: "outerHTML" });
    });
  }

  function editLast() {
    var links = document.querySelectorAll(PANEL + " [data-edit]");
    if (links.length) links[links.length - 1].click();
  }

  function toggleHelp() {
    var help = document.getElementById("review-help");
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented) return;
    var target = event.target;
    // A text box disabled while its form saves keeps the focus until the browser's next
    // rendering step; keys pressed before then belong to the page, not to the dead box.
    if (target.disabled) target = document.body;
    var editForm = target.closest && target.closest("[data-edit-form]");
    if (editForm) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        editForm.requestSubmit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        var cancel = editForm.querySelector("[data-edit-cancel]");
        if (cancel) cancel.click();
      }
      return;
    }
    if (isTyping(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var help = document.getElementById("review-help");
    if (help && help.open) {
      if (event.key === "?") { event.preventDefault(); help.close(); }
      return;
    }
    // Esc closes an open edit form even when the focus is not in it yet (htmx focuses the
    // text box only once the swap settles) or was moved away by a click.
    var openCancel = event.key === "Escape" && document.querySelector("[data-edit-form] [data-edit-cancel]");
    if (openCancel) { event.preventDefault(); openCancel.click(); return; }
    var p = panel();
    if (!p) return;
    var key = event.key;
    if (key >= "1" && key <= "5" && key.length === 1) { event.preventDefault(); score(key); return; }
    switch (key) {
      case "ArrowDown": case "ArrowRight":
        event.preventDefault(); setFocus(focusIndex + 1); return;
      case "ArrowUp": case "ArrowLeft":
        event.preventDefault(); setFocus(focusIndex - 1); return;
      case "Tab": {
        var list = criteria();
        var inCriteria = target === document.body || (target.closest && target.closest(".criterion"));
        var step = event.shiftKey ? -1 : 1;
        var next = focusIndex + step;
        if (list.length && inCriteria && next >= 0 && next < list.length) {
          event.preventDefault(); setFocus(next);
        }
        return;
      }
      case "a": case "A": event.preventDefault(); decide("approve"); return;
      case "r": case "R": event.preventDefault(); decide("reject"); return;
      case "s": case "S":
        if (form() && form().querySelector('[value="skip"]')) { event.preventDefault(); decide("skip"); }
        return;
      case "e": case "E": event.preventDefault(); editLast(); return;
      case "j": case "J": event.preventDefault(); go(p.dataset.nextUrl); return;
      case "k": case "K": event.preventDefault(); go(p.dataset.prevUrl); return;
      case "c": case "C": {
        var comment = document.getElementById("review-comment");
        if (comment) { event.preventDefault(); comment.focus(); }
        return;
      }
      case "?": event.preventDefault(); toggleHelp(); return;
    }
  });

  // Mouse decisions take the same path as keys (prefetched swap, elapsed time).
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "review-form") return;
    event.preventDefault();
    event.stopPropagation();
    var action = event.submitter ? event.submitter.value : "approve";
    decide(action);
  }, true);

  document.addEventListener("focusin", function (event) {
    var fieldset = event.target.closest && event.target.closest("#review-form .criterion");
    if (fieldset) {
      var index = criteria().indexOf(fieldset);
      if (index >= 0 && index !== focusIndex) setFocus(index, false);
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-help]")) toggleHelp();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    onPanel();
    var area = event.detail && event.detail.elt;
    var box = document.querySelector(PANEL + " textarea[autofocus]");
    if (box && area && area.contains && area.contains(box)) { box.focus(); return; }
    if (document.activeElement === document.body && criteria().length) setFocus(focusIndex, true, true);
  });

  document.addEventListener("DOMContentLoaded", onPanel);
  if (document.readyState !== "loading") onPanel();
})();
