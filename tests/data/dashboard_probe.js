// Evaluated by tests/test_dashboard.py in the dashboard over the DevTools protocol (the page
// itself has no script).
// For every rendered text: its colour, the background painted under it (computed styles),
// and the WCAG 2 contrast ratio; for every card cell: display, size and ::before label.
(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]*)\)/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const shapes = new Set(["rect", "circle", "path", "ellipse", "polygon"]);
  // The backgrounds under an HTML element: its own and its ancestors' colours, composed;
  // a gradient counts as each of its colour stops.
  const htmlBackgrounds = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage && cs.backgroundImage !== "none") {
        const stops = (cs.backgroundImage.match(/rgba?\([^)]*\)/g) || []).map(parse);
        return stops.map((stop) => layers.reduceRight((acc, l) => over(l, acc), stop));
      }
      const bg = parse(cs.backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    let base = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
    return [base];
  };
  // Under an SVG text: the first painted shape at its centre, else the HTML behind.
  const svgBackgrounds = (el) => {
    const r = el.getBoundingClientRect();
    const stack = document.elementsFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    for (const e of stack) {
      if (e === el || el.contains(e) || e.tagName === "text" || e.tagName === "tspan") continue;
      if (shapes.has(e.tagName)) {
        const fill = parse(getComputedStyle(e).fill);
        if (fill && fill[3] > 0) return [over(fill, htmlBackgrounds(e.ownerSVGElement)[0])];
        continue;
      }
      if (e.namespaceURI === "http://www.w3.org/1999/xhtml") return htmlBackgrounds(e);
    }
    return htmlBackgrounds(el.ownerSVGElement || document.body);
  };
  const out = { texts: [], cells: [], width: window.innerWidth };
  const record = (el, text, colour, backgrounds) => {
    let fg = parse(colour);
    let opacity = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
    fg = [fg[0], fg[1], fg[2], fg[3] * opacity];
    const worst = Math.min(...backgrounds.map((bg) => ratio(over(fg, bg), bg)));
    out.texts.push({ tag: el.tagName, text: text.slice(0, 60), colour, ratio: Math.round(worst * 100) / 100 });
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "title"].includes(el.tagName) || el.id === "probe") continue;
    if (el.closest("title")) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    const cs = getComputedStyle(el);
    if (own && el.getClientRects().length && cs.visibility !== "hidden") {
      const svg = el instanceof SVGElement;
      record(el, own, svg ? cs.fill : cs.color, svg ? svgBackgrounds(el) : htmlBackgrounds(el));
    }
    const before = getComputedStyle(el, "::before");
    if (before.content && before.content !== "none" && before.content !== "normal" && before.display !== "none") {
      record(el, "::before " + before.content, before.color, htmlBackgrounds(el));
    }
  }
  for (const table of document.querySelectorAll("table.cards")) {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const tr of table.querySelectorAll("tbody tr")) {
      [...tr.children].forEach((td, i) => {
        const cs = getComputedStyle(td);
        out.cells.push({
          table: table.closest("section").id,
          head: heads[i],
          display: cs.display,
          visible: td.getClientRects().length > 0 && td.getBoundingClientRect().width > 0,
          label: getComputedStyle(td, "::before").content,
          right: td.getBoundingClientRect().right,
        });
      });
    }
  }
  return out;
})()
