/* clinicbot web chat: one file, no build step, no framework, no request but to the clinic's app.
 *
 * Embed:  <script src="https://bot.clinic.example/webchat/widget.js" defer></script>
 *         <clinic-chat></clinic-chat>
 * Optional attributes: heading="Chat with Riverside Acupuncture", label="Questions? Chat with us".
 *
 * The visitor's token (from POST chats) stays in localStorage and travels in a header, never
 * in a cookie or a URL. Replies arrive as server-sent events read with fetch (EventSource
 * cannot send a header); each event's id is the stored line's id, so a reconnect sends
 * Last-Event-ID and gets exactly what it missed. Untrusted text only ever becomes text nodes.
 */
(() => {
  "use strict";
  if (customElements.get("clinic-chat")) return;

  const SCRIPT = document.currentScript;
  const BASE = new URL("./", SCRIPT && SCRIPT.src ? SCRIPT.src : location.href);
  const KEY = "clinicbot-webchat:" + BASE.origin + BASE.pathname;
  const SAFE_HREF = /^(https?:|tel:|mailto:)/i;
  const INLINE = /\*\*(.+?)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'")\]])/g;

  const CSS = `
    :host { all: initial; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; }
    *, *::before, *::after { box-sizing: border-box; }
    .sr { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    button { font: inherit; cursor: pointer; }
    button:focus-visible, input:focus-visible, a:focus-visible, .log:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
    .launcher { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000; border: 0; border-radius: 999px;
      padding: 12px 20px; background: #0b5c4b; color: #fff; font-weight: 600; box-shadow: 0 2px 8px rgba(0,0,0,.3); }
    .panel { position: fixed; right: 8px; bottom: 76px; z-index: 2147483001; width: min(400px, calc(100vw - 16px));
      height: min(620px, calc(100vh - 92px)); display: flex; flex-direction: column; background: #fff;
      border: 1px solid #8a8a8a; border-radius: 12px; box-shadow: 0 6px 24px rgba(0,0,0,.25); overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 10px 12px;
      background: #0b5c4b; color: #fff; }
    h2 { margin: 0; font-size: 1.05rem; }
    .close { border: 2px solid #fff; border-radius: 6px; background: transparent; color: #fff; padding: 4px 10px; }
    .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; }
    .line { max-width: 88%; padding: 8px 12px; border-radius: 12px; overflow-wrap: anywhere; }
    .line p { margin: 0 0 .5em; } .line p:last-child { margin-bottom: 0; }
    .line ul { margin: .25em 0 .5em; padding-left: 1.2em; }
    .visitor { align-self: flex-end; background: #0b5c4b; color: #fff; }
    .visitor a { color: #fff; }
    .clinic { align-self: flex-start; background: #eef2f1; color: #1a1a1a; }
    .clinic a { color: #0b4a9e; }
    .pending { opacity: .75; }
    .failed { outline: 2px dashed #b00020; }
    .urgent { align-self: stretch; max-width: 100%; background: #fde8e8; color: #4d0011;
      border: 2px solid #b00020; border-left-width: 8px; font-size: 1.05rem; }
    .urgent .flag { display: block; font-weight: 700; color: #8f0019; margin-bottom: 4px; }
    .options { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
    .options button { border: 2px solid #0b5c4b; border-radius: 999px; background: #fff; color: #0b5c4b; padding: 4px 12px; }
    button.download { display: block; margin-top: 8px; border: 2px solid #0b5c4b; border-radius: 6px; background: #0b5c4b; color: #fff; padding: 6px 12px; }
    button.download:disabled { background: #fff; color: #3d4b47; border-color: #6b7a76; }
    .status { margin: 0; padding: 0 12px; min-height: 1.2em; font-size: .9rem; color: #8f0019; }
    form { display: flex; gap: 8px; padding: 10px 12px; border-top: 1px solid #c4c4c4; }
    input { flex: 1; min-width: 0; font: inherit; padding: 8px 10px; border: 2px solid #6b6b6b; border-radius: 8px; }
    .send { border: 0; border-radius: 8px; background: #0b5c4b; color: #fff; padding: 8px 14px; font-weight: 600; }
    .note { margin: 0; padding: 0 12px 8px; font-size: .8rem; color: #4a4a4a; }
    .linker { align-self: flex-start; margin: 0 12px 6px; border: 0; background: none; padding: 2px 0;
      color: #0b4a9e; text-decoration: underline; font-size: .9rem; }
    .linkbox { padding: 0 12px 6px; font-size: .9rem; }
    .linkbox[hidden] { display: none; }
    .linkbox p { margin: 0 0 6px; }
    .linkbox form { padding: 0 0 6px; border: 0; flex-wrap: wrap; align-items: center; }
    .linkbox label { flex-basis: 100%; font-weight: 600; }
  `;

  function make(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "text") node.textContent = value;
      else if (name in node && !name.startsWith("aria") && name !== "role") node[name] = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function link(parent, label, href) {
    if (!SAFE_HREF.test(href)) { parent.append(label); return; }
    parent.append(make("a", { href, text: label, rel: "noopener noreferrer", target: "_blank" }));
  }

  /* Markdown as the clinic's content uses it: **bold**, [links](https://...), bare links. */
  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      if (m[1] !== undefined) { const strong = make("strong"); inline(strong, m[1]); parent.append(strong); }
      else if (m[2] !== undefined) link(parent, m[2], m[3]);
      else link(parent, m[4], m[4]);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  /* Paragraphs, and "- " lists. */
  function markdown(parent, text) {
    for (const block of String(text).split(/\n\s*\n/)) {
      const lines = block.split("\n").filter((line) => line.trim());
      if (!lines.length) continue;
      if (lines.every((line) => /^\s*[-*] /.test(line))) {
        const list = make("ul");
        for (const line of lines) { const item = make("li"); inline(item, line.replace(/^\s*[-*] /, "")); list.append(item); }
        parent.append(list);
      } else {
        const para = make("p");
        lines.forEach((line, i) => { if (i) para.append(make("br")); inline(para, line.replace(/^#+\s+/, "")); });
        parent.append(para);
      }
    }
  }

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const storage = {
    get(key) { try { return localStorage.getItem(key); } catch { return null; } },
    set(key, value) { try { localStorage.setItem(key, value); } catch { /* private mode: this page only */ } },
    drop(key) { try { localStorage.removeItem(key); } catch { /* nothing kept */ } },
  };

  class ClinicChat extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this.token = storage.get(KEY);
      this.lastId = 0;
      this.seen = new Set();
      this.pending = new Map();
      this.streaming = false;
    }

    connectedCallback() {
      if (this.panel) return;
      const heading = this.getAttribute("heading") || "Chat with us";
      const style = make("style", { text: CSS });
      this.launcher = make("button", {
        type: "button", className: "launcher", text: this.getAttribute("label") || heading,
        "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "clinic-chat-panel",
      });
      this.closer = make("button", { type: "button", className: "close", text: "Close", "aria-label": "Close chat" });
      this.log = make("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabIndex: 0 });
      this.status = make("p", { className: "status", role: "status" });
      this.input = make("input", { id: "clinic-chat-message", type: "text", autocomplete: "off", maxLength: 1000, enterKeyHint: "send" });
      const label = make("label", { className: "sr", htmlFor: "clinic-chat-message", text: "Message" });
      this.form = make("form", {}, label, this.input, make("button", { type: "submit", className: "send", text: "Send" }));
      this.linker = make("button", {
        type: "button", className: "linker", text: "Already a patient? Link this chat",
        "aria-expanded": "false", "aria-controls": "clinic-chat-link",
      });
      this.contact = make("input", { id: "clinic-chat-contact", type: "tel", autocomplete: "tel", maxLength: 40 });
      this.code = make("input", { id: "clinic-chat-code", type: "text", inputMode: "numeric", autocomplete: "one-time-code", maxLength: 6 });
      const contactForm = make("form", {},
        make("label", { htmlFor: "clinic-chat-contact", text: "Your phone number" }), this.contact,
        make("button", { type: "submit", className: "send", text: "Send code" }));
      const codeForm = make("form", {},
        make("label", { htmlFor: "clinic-chat-code", text: "Code" }), this.code,
        make("button", { type: "submit", className: "send", text: "Link" }));
      this.linkBox = make("div", { id: "clinic-chat-link", className: "linkbox", hidden: true },
        make("p", { text: "We send a one-time code to the phone the clinic has for you (or type telegram:<your id>)." }),
        contactForm, codeForm);
      this.panel = make("div", {
        id: "clinic-chat-panel", className: "panel", role: "dialog", "aria-labelledby": "clinic-chat-title", hidden: true,
      },
      make("header", {}, make("h2", { id: "clinic-chat-title", text: heading }), this.closer),
      this.log, this.status, this.linker, this.linkBox, this.form,
      make("p", { className: "note", text: "Automated answers from the clinic, not medical advice." }));
      this.shadowRoot.append(style, this.launcher, this.panel);

      this.launcher.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
      this.closer.addEventListener("click", () => this.close());
      this.shadowRoot.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && !this.panel.hidden) { event.preventDefault(); this.close(); }
      });
      this.linker.addEventListener("click", () => {
        this.linkBox.hidden = !this.linkBox.hidden;
        this.linker.setAttribute("aria-expanded", String(!this.linkBox.hidden));
        if (!this.linkBox.hidden) this.contact.focus();
      });
      contactForm.addEventListener("submit", (event) => {
        event.preventDefault();
        if (this.contact.value.trim()) this.link({ contact: this.contact.value.trim() }, this.code);
      });
      codeForm.addEventListener("submit", (event) => {
        event.preventDefault();
        if (this.code.value.trim()) this.link({ code: this.code.value.trim() }, this.input);
      });
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = this.input.value.trim();
        if (!text) return;
        this.input.value = "";
        this.send(text, null);
      });
      let wasOpen = false;
      try { wasOpen = sessionStorage.getItem(KEY + ":open") === "1"; } catch { /* not kept */ }
      if (wasOpen) this.open(false);  // a reload keeps the chat where the visitor left it
    }

    open(focus = true) {
      this.panel.hidden = false;
      this.launcher.setAttribute("aria-expanded", "true");
      try { sessionStorage.setItem(KEY + ":open", "1"); } catch { /* not kept */ }
      if (focus) this.input.focus();
      if (this.token) this.listen();
    }

    close() {
      this.panel.hidden = true;
      this.launcher.setAttribute("aria-expanded", "false");
      try { sessionStorage.removeItem(KEY + ":open"); } catch { /* not kept */ }
      this.launcher.focus();
    }

    say(text) { this.status.textContent = text; }

    async api(path, options) {
      const headers = { ...(options.headers || {}) };
      if (this.token) headers["x-webchat-token"] = this.token;
      return fetch(new URL(path, BASE), { ...options, headers, cache: "no-store", credentials: "omit" });
    }

    async problem(response) {
      try { return (await response.json()).error || `error ${response.status}`; } catch { return `error ${response.status}`; }
    }

    async ensureChat() {
      if (this.token) return true;
      let response;
      try { response = await this.api("chats", { method: "POST" }); } catch {
        this.say("The chat is not available on this page.");
        return false;
      }
      if (!response.ok) { this.say(await this.problem(response)); return false; }
      this.token = (await response.json()).token;
      storage.set(KEY, this.token);
      this.listen();
      return true;
    }

    async send(text, payload) {
      const clientId = randomId();
      const line = this.addLine({ from: "visitor", text, client_id: clientId }, true);
      if (!(await this.ensureChat())) { line.classList.add("failed"); return; }
      const body = JSON.stringify(payload ? { client_id: clientId, text, payload } : { client_id: clientId, text });
      for (let attempt = 0; attempt < 3; attempt++) {
        let response;
        try {
          response = await this.api("messages", { method: "POST", headers: { "content-type": "application/json" }, body });
        } catch {
          this.say("Connection lost; trying again…");
          await sleep(1000 * (attempt + 1));
          continue;  // the same client_id: the server answers a retry once
        }
        if (response.ok) { this.say(""); return; }
        this.say(await this.problem(response));
        if (response.status === 401 || response.status === 410) this.forgetChat();
        break;
      }
      line.classList.add("failed");
    }

    async link(body, next) {
      if (!(await this.ensureChat())) return;
      let response;
      try {
        response = await this.api("link", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      } catch { this.say("Connection lost; try again."); return; }
      if (!response.ok) { this.say(await this.problem(response)); return; }
      const answer = await response.json();
      if (answer.linked) {
        this.say("This chat is now linked to your record.");
        this.linkBox.hidden = true;
        this.linker.setAttribute("aria-expanded", "false");
        this.code.value = "";
      } else {
        this.say(answer.sent.charAt(0).toUpperCase() + answer.sent.slice(1) + ".");
      }
      next.focus();
    }

    forgetChat() {
      storage.drop(KEY);
      this.token = null;
      this.lastId = 0;
      if (this.abort) this.abort.abort();
    }

    /* Read the event stream for as long as there is a chat, reconnecting with Last-Event-ID. */
    async listen() {
      if (this.streaming || !this.token) return;
      this.streaming = true;
      let wait = 1000;
      while (this.token) {
        this.abort = new AbortController();
        try {
          const headers = this.lastId ? { "last-event-id": String(this.lastId) } : {};
          const response = await this.api("events", { headers, signal: this.abort.signal });
          if (response.status === 401 || response.status === 410) { this.forgetChat(); break; }
          if (!response.ok || !response.body) throw new Error(await this.problem(response));
          if (this.status.textContent === "Reconnecting…") this.say("");
          wait = 1000;
          await this.read(response.body);
          await sleep(200);  // the server ends streams now and then: come straight back
        } catch {
          if (!this.token) break;
          this.say("Reconnecting…");
          await sleep(wait);
          wait = Math.min(wait * 2, 30000);
        }
      }
      this.streaming = false;
    }

    async read(body) {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          this.event(block);
        }
      }
    }

    event(block) {
      let id = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;  // a keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let line;
      try { line = JSON.parse(data.join("\n")); } catch { return; }
      this.addLine(line, false);
      if (id && /^\d+$/.test(id)) this.lastId = Math.max(this.lastId, Number(id));
    }

    addLine(line, optimistic) {
      if (line.id && this.seen.has(line.id)) return null;
      if (line.id) this.seen.add(line.id);
      if (line.from === "visitor") {
        const mine = line.client_id && this.pending.get(line.client_id);
        if (mine) { mine.classList.remove("pending", "failed"); this.pending.delete(line.client_id); return mine; }
      }
      const node = this.render(line);
      if (optimistic) { node.classList.add("pending"); this.pending.set(line.client_id, node); }
      const atEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
      this.log.append(node);
      if (atEnd || optimistic) this.log.scrollTop = this.log.scrollHeight;
      return node;
    }

    render(line) {
      if (line.from === "visitor") {
        return make("div", { className: "line visitor" }, make("span", { className: "sr", text: "You: " }), line.text || "");
      }
      const urgent = line.kind === "red_flag";
      const node = make("div", { className: urgent ? "line clinic urgent" : "line clinic" });
      if (urgent) {
        node.setAttribute("role", "alert");
        node.append(make("strong", { className: "flag", text: "Urgent" }));
      } else {
        node.append(make("span", { className: "sr", text: "Clinic: " }));
      }
      markdown(node, line.text || "");
      const options = Array.isArray(line.options) ? line.options : [];
      if (options.length) {
        const group = make("div", { className: "options", role: "group", "aria-label": "Suggested replies" });
        for (const option of options) {
          const button = make("button", { type: "button", text: String(option.label) });
          button.addEventListener("click", () => this.send(String(option.label), String(option.payload)));
          group.append(button);
        }
        node.append(group);
      }
      if (line.download && typeof line.download.ticket === "string") node.append(this.downloadButton(line.download));
      return node;
    }

    /* A copy of the visitor's data: a one-time ticket, redeemed with the chat's token. */
    downloadButton(download) {
      const name = String(download.name || "my-data.json");
      const button = make("button", { type: "button", className: "download", text: `Download ${name}` });
      const expired = () => Date.parse(download.expires_at) <= Date.now();
      const spent = (text) => { button.disabled = true; button.textContent = text; };
      if (expired()) spent("Download expired: ask for /mydata again");
      button.addEventListener("click", async () => {
        if (expired()) { spent("Download expired: ask for /mydata again"); return; }
        let response;
        try {
          response = await this.api("download", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ticket: download.ticket }) });
        } catch { this.say("Connection lost; try again."); return; }
        if (!response.ok) { this.say(await this.problem(response)); spent("Download no longer available"); return; }
        const url = URL.createObjectURL(await response.blob());
        const save = make("a", { href: url, download: name });
        save.hidden = true;
        this.shadowRoot.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        spent(`Downloaded ${name}`);
        this.say(`${name} downloaded.`);
      });
      return button;
    }
  }

  customElements.define("clinic-chat", ClinicChat);
})();
