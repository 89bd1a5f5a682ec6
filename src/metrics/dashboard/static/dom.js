// @ts-check
/* Element look-ups: the page's markup is fixed, so a missing id is a bug in index.html, reported by name. */

/**
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {new () => T} [type] the element's class, when the caller needs more than HTMLElement
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`dashboard markup has no #${id}`);
  if (type !== undefined && !(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (el);
}
