// ganrecon pages: sortable metrics tables, the gather display switch, wipe sliders, the app's model list.
"use strict";

function sortTable(table, th) {
  const col = Array.from(th.parentNode.children).indexOf(th);
  const kind = th.dataset.sort;
  const bestFirst = th.getAttribute("aria-sort") === null || th.dataset.reversed === "1";
  table.querySelectorAll("thead th").forEach((h) => { if (h !== th) { h.removeAttribute("aria-sort"); delete h.dataset.reversed; } });
  th.dataset.reversed = bestFirst ? "0" : "1";
  const descending = (kind === "high") === bestFirst;
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => row.children[col].dataset.value;
  rows.sort((a, b) => {
    const va = key(a), vb = key(b);
    if (kind === "text") { return descending ? vb.localeCompare(va) : va.localeCompare(vb); }
    if (va === "" || vb === "") { return (va === "") - (vb === ""); }   // missing values last
    return descending ? Number(vb) - Number(va) : Number(va) - Number(vb);
  });
  rows.forEach((row) => body.appendChild(row));
}

document.querySelectorAll("table.metrics").forEach((table) => {
  table.querySelectorAll("thead th").forEach((th) => th.addEventListener("click", () => sortTable(table, th)));
});

document.querySelectorAll(".view-switch input[name=view]").forEach((radio) => {
  radio.addEventListener("change", () => { document.body.dataset.view = radio.value; });
});

document.querySelectorAll(".wipe").forEach((wipe) => {
  const range = wipe.querySelector(".wipe-range");
  const before = wipe.querySelector(".wipe-before");
  const frame = wipe.querySelector(".wipe-frame");
  const update = () => {
    before.style.clipPath = `inset(0 ${100 - range.value}% 0 0)`;
    frame.style.setProperty("--wipe", `${range.value}%`);
  };
  range.addEventListener("input", update);
  update();
});

// The app: offer only the models of the chosen task.
const taskSelect = document.getElementById("task");
const modelSelect = document.getElementById("model");
if (taskSelect && modelSelect) {
  const filter = () => {
    let firstVisible = null;
    Array.from(modelSelect.options).forEach((opt) => {
      opt.hidden = opt.dataset.task !== "*" && opt.dataset.task !== taskSelect.value;   // "*": auto
      if (!opt.hidden && firstVisible === null) { firstVisible = opt; }
    });
    if (modelSelect.selectedOptions[0] && modelSelect.selectedOptions[0].hidden && firstVisible) { firstVisible.selected = true; }
  };
  taskSelect.addEventListener("change", filter);
  filter();
}
