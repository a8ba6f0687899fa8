// The web UI's calls to the API. Where the server needs a key (skugraph serve --keys), the page
// asks for one once and keeps it for this browser tab only (sessionStorage), sent as a Bearer token.
const KEY_ITEM = "skugraph-api-key";
async function api(url) {
  const key = sessionStorage.getItem(KEY_ITEM);
  const response = await fetch(url, key ? {headers: {Authorization: "Bearer " + key}} : {});
  if (response.status === 401) askForKey(key ? "That key was refused. API key:" : "This server needs an API key:");
  return response;
}
function askForKey(message) {
  if (document.getElementById("key-form")) return;
  const form = document.createElement("form"), label = document.createElement("label"), input = document.createElement("input"), button = document.createElement("button");
  form.id = "key-form"; form.style.cssText = "padding:8px 24px;background:#fff4d6;display:flex;gap:8px;align-items:center";
  input.id = "api-key"; input.type = "password"; input.autocomplete = "off";
  label.append(message + " ", input); button.textContent = "Use key";
  form.append(label, button);
  form.addEventListener("submit", event => { event.preventDefault(); sessionStorage.setItem(KEY_ITEM, input.value.trim()); location.reload(); });
  document.body.prepend(form);
}
