// Live refresh of the panels, and the test-ticket buttons (the server adds the token).
const panels = document.getElementById("panels");
const result = document.getElementById("submit-result");
const refreshMs = 1000 * Number(panels.dataset.refresh || 2);

async function refresh() {
  try {
    const response = await fetch("panels", { cache: "no-store" });
    if (response.ok) {
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
refresh();
setInterval(refresh, refreshMs);
