// Evaluated by tests/test_dashboard.py: every shape painted in a state's colour, and what
// tells its state without the colour (a word in its tooltip or beside it, a shape).
(() => {
  const out = [];
  // A label's lines (tspans) are words apart.
  const text = (el) => {
    if (!el) return "";
    const lines = el.querySelectorAll("tspan");
    const raw = lines.length ? [...lines].map((l) => l.textContent).join(" ") : el.textContent;
    return raw.replace(/\s+/g, " ").trim();
  };
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.closest(".legend")) continue;
    for (const shape of svg.querySelectorAll("rect, circle, path")) {
      const fill = shape.getAttribute("fill");
      if (!fill || fill === "none" || fill === "#fff") continue;
      const own = text(shape.querySelector(":scope > title"));
      const group = shape.closest("g");
      const tip = group ? text(group.querySelector(":scope > title")) : "";
      // A funnel bar: the stage label in the same row of its chart.
      const y = parseFloat(shape.getAttribute("y"));
      let beside = "";
      for (const label of svg.querySelectorAll("text.stage")) {
        const ly = parseFloat(label.getAttribute("y"));
        if (!Number.isNaN(y) && ly >= y && ly <= y + 26) beside = text(label);
      }
      const cell = shape.closest("td");
      const words = cell ? text(cell.querySelector(".words")) : "";
      out.push({
        where: svg.getAttribute("aria-label") || "",
        fill,
        kind: group && group.classList.contains("cycle") ? shape.tagName : "",
        said: [own, tip, beside, words].filter(Boolean).join(" | "),
      });
    }
  }
  const legend = [...document.querySelectorAll("#timeline .legend span")].map((s) => ({
    word: text(s),
    shapes: s.querySelectorAll("svg *").length,
  }));
  return { shapes: out, legend };
})()
