/* Planning a visit: the period's weekdays as quick picks that fill the date input. */
"use strict";
document.addEventListener("click", (event) => {
  const chip = event.target.closest("[data-pick-day]");
  if (!chip) return;
  const input = document.getElementById("visit-day");
  if (!input) return;
  input.value = chip.dataset.pickDay;
  for (const other of document.querySelectorAll("[data-pick-day].chosen")) other.classList.remove("chosen");
  chip.classList.add("chosen");
  input.dispatchEvent(new Event("change", { bubbles: true }));
  document.getElementById("visit-time")?.focus();
});
