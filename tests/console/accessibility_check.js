// What tests/console/test_browser_accessibility.py checks on each page, evaluated in
// the page (a function, as the Content-Security-Policy refuses eval): a small, fast
// subset of WCAG 2.1 AA that a template change can break. Returns the problems found.
() => {
  const problems = [];
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return (box.width > 0 || box.height > 0) && getComputedStyle(el).visibility !== "hidden";
  };
  const text = (el) => (el ? el.textContent.replace(/\s+/g, " ").trim() : "");
  const describe = (el) => el.outerHTML.slice(0, 160);
  // The accessible name, roughly as browsers compute it (aria-labelledby, aria-label,
  // <label>s, then the content or the title).
  const name = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) return by.split(/\s+/).map((id) => text(document.getElementById(id))).join(" ").trim();
    if ((el.getAttribute("aria-label") || "").trim()) return el.getAttribute("aria-label").trim();
    if (el.labels && el.labels.length) return Array.from(el.labels).map(text).join(" ").trim();
    const own = el.matches("input, select, textarea") ? "" : text(el);
    const images = Array.from(el.querySelectorAll("img[alt], svg title")).map((i) => i.alt || text(i));
    return (own || images.join(" ") || el.title || el.value || "").trim();
  };

  // Every form control a person fills in has a name.
  document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach((el) => {
    if (shown(el) && !name(el)) problems.push("control without a label: " + describe(el));
  });
  // Every button and link says what it does (an icon alone does not).
  document.querySelectorAll("button, a[href], [role=button], summary").forEach((el) => {
    if (shown(el) && !name(el)) problems.push("button or link without a name: " + describe(el));
  });
  // Every table has headers, none of them empty; every progress bar has a name.
  document.querySelectorAll("table").forEach((table) => {
    if (shown(table) && !table.querySelector("th")) problems.push("table without headers: " + describe(table));
  });
  document.querySelectorAll("th").forEach((th) => {
    if (shown(th) && !text(th) && !th.getAttribute("aria-label")) problems.push("empty table header: " + describe(th.closest("tr")));
  });
  document.querySelectorAll("[role=progressbar]").forEach((bar) => {
    if (!name(bar)) problems.push("progress bar without a name: " + describe(bar));
  });
  // One h1 first, and no heading level skipped on the way down.
  const levels = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6")).filter(shown)
    .map((h) => Number(h.tagName[1]));
  if (levels[0] !== 1) problems.push("the first heading is not an h1: " + levels.join(","));
  levels.forEach((level, i) => {
    if (i && level > levels[i - 1] + 1) problems.push("heading level skipped: " + levels.join(","));
  });
  // Status badges are readable: their text at 4.5:1 or more on their own background.
  const luminance = (css) => {
    const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  document.querySelectorAll(".badge").forEach((badge) => {
    if (!shown(badge)) return;
    const style = getComputedStyle(badge);
    if (/rgba\(.*, 0\)$/.test(style.backgroundColor)) return;  // on the page's own background
    const [fg, bg] = [luminance(style.color), luminance(style.backgroundColor)];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push("badge contrast " + ratio.toFixed(2) + ": " + describe(badge));
  });
  return { lang: document.documentElement.lang, problems: problems };
}
