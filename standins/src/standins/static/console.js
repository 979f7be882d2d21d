// Live refresh of the panels, and the test-ticket buttons (the server adds the token).
const panels = document.getElementById("panels");
const result = document.getElementById("submit-result");
const live = document.getElementById("live");
const refreshMs = 1000 * Number(panels.dataset.refresh || 2);

// Unticking "live refresh" freezes the page for reading (also checked when an answer lands).
async function refresh(force = false) {
  if (!live.checked && !force) return;
  try {
    const response = await fetch("panels", { cache: "no-store" });
    if (response.ok && (live.checked || force)) {
      const open = new Set([...panels.querySelectorAll("details[open] summary")].map((s) => s.textContent));
      panels.innerHTML = await response.text();
      panels.querySelectorAll("details summary").forEach((s) => { if (open.has(s.textContent)) s.parentElement.open = true; });
      panels.dataset.loaded = "true";
    }
  } catch (error) {
    result.textContent = "console unreachable: " + error;
  }
}

async function submit(priority) {
  result.textContent = "submitting " + priority + "…";
  const response = await fetch("submit", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ priority }),
  });
  const answer = await response.json();
  result.textContent = answer.message || answer.error;
  refresh();
}

document.querySelectorAll("#submit button").forEach((b) => b.addEventListener("click", () => submit(b.dataset.priority)));
refresh(true);
setInterval(refresh, refreshMs);
