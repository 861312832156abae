// Select text inside a message to fill the "redact" form with its exact place.
(function () {
  function offsetWithin(container, node, offset) {
    const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => (n.parentElement.closest(".pii-tag") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    let total = 0;
    for (let current = walker.nextNode(); current; current = walker.nextNode()) {
      if (current === node) return total + offset;
      total += current.textContent.length;
    }
    return null;
  }
  document.addEventListener("mouseup", function () {
    const form = document.getElementById("add-finding");
    const selection = window.getSelection();
    if (!form || !selection || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    const start = range.startContainer.parentElement && range.startContainer.parentElement.closest(".msg-body[data-field]");
    const end = range.endContainer.parentElement && range.endContainer.parentElement.closest(".msg-body[data-field]");
    if (!start || start !== end) return;
    const text = selection.toString();
    const begin = offsetWithin(start, range.startContainer, range.startOffset);
    if (!text.trim() || begin === null) return;
    form.elements.text.value = text;
    form.elements.message_index.value = start.dataset.message;
    form.elements.field.value = start.dataset.field;
    form.elements.start.value = begin;
    form.elements.entity_type.focus();
  });
  // Typing in the text box means "every occurrence", not the selected place.
  document.addEventListener("input", function (event) {
    const form = document.getElementById("add-finding");
    if (form && event.target === form.elements.text) {
      form.elements.message_index.value = form.elements.field.value = form.elements.start.value = "";
    }
  });
})();
