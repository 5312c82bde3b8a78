// Change the DOM only where something changed: a node under the pointer or the keyboard focus is
// never replaced, and an unchanged value costs a comparison, not a mutation (and no layout).
"use strict";

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

export function setClass(node, name, on) {
  if (node.classList.contains(name) !== on) node.classList.toggle(name, on);
}

export function setAttr(node, name, value) {
  if (value === null || value === undefined) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== value) {
    node.setAttribute(name, value);
  }
}

export function setDisabled(button, disabled) {
  if (button.disabled !== disabled) button.disabled = disabled;
}

/** Put `nodes` into `parent` in this order, moving only those out of place (a node in place is not touched). */
export function placeInOrder(parent, nodes) {
  let at = parent.firstChild;
  for (const node of nodes) {
    if (node !== at) parent.insertBefore(node, at);
    else at = at.nextSibling;
  }
}
