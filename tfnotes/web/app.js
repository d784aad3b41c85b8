// The digit page: a drawing pad, a photo reader and the Collect tab over the app's API (tfnotes/server.py).
//   POST /api/predict?top_k=3&inputs=1[&model=NAME]  body: a picture -> {number, digits: [...], inputs: [...]}
//   GET  /api/models                                 -> {default, models: [{name, checkpoint_step}]}
//   POST /api/collect?label=N, GET /api/collect/counts, POST /api/collect/undo   (your handwriting's samples)
"use strict";

(() => {
  const MAX_BYTES = 10 * 1024 * 1024;   // the server's limit: a bigger photo is refused here, before uploading it
  const PAUSE_MS = 250;                 // while drawing, predict once the pen has rested this long
  const PEN_WIDTH = 20;                 // canvas pixels (the pad is 640x320): about MNIST's stroke for a 200 px digit
  const SEND_SIDE = 256;                // the drawing is sent as its ink's region, at most this long a side, ...
  const MARGIN = 0.25;                  // ... with this much paper around it (share of the ink's longer side) ...
  const MIN_MARGIN = 20;                // ... and at least this many pixels: the server tells paper from ink by it

  const $ = (selector, root = document) => root.querySelector(selector);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const percent = (p) => `${(100 * p).toFixed(1)}%`;
  let model = null;                     // null: the server's default

  // ------------------------------------------------------------------ the API
  async function predict(picture) {
    const query = new URLSearchParams({ top_k: "3", inputs: "1" });
    if (model) query.set("model", model);
    // The server takes image/* or application/octet-stream only (tfnotes/server.py, PICTURE_TYPES); a file of
    // another type (a .txt chosen by mistake) is still sent, as octet-stream, for the server to say what it is.
    const type = picture.type.startsWith("image/") ? picture.type : "application/octet-stream";
    let response;
    try {
      response = await fetch(`/api/predict?${query}`,
        { method: "POST", body: picture, headers: { "Content-Type": type } });
    } catch (_) {
      throw new Error("无法连接服务器 Cannot reach the server: is `python mnist_app.py --serve` still running?");
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  // ------------------------------------------------------------------ showing a reading
  function seenCanvas(rows) {
    // The 28x28 input as the model gets it: light ink (255) on black, like MNIST.
    const canvas = el("canvas", "seen");
    canvas.width = canvas.height = 28;
    canvas.title = "模型看到的 28×28 输入 The 28×28 input the model sees";
    const image = canvas.getContext("2d").createImageData(28, 28);
    rows.flat().forEach((v, i) => {
      image.data.set([v, v, v, 255], 4 * i);
    });
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }

  function digitCard(digit, rows) {
    const card = el("li");
    if (rows) card.append(seenCanvas(rows));
    const read = el("div", "read");
    read.append(el("b", "", String(digit.digit)), ` ${percent(digit.probability)}`);
    card.append(read);
    for (const [d, p] of digit.top_k) {
      const row = el("div", "bar-row");
      const bar = el("span", "bar");
      const fill = el("span");
      fill.style.width = percent(p);
      bar.append(fill);
      row.append(el("span", "d", String(d)), bar, el("span", "p", percent(p)));
      card.append(row);
    }
    return card;
  }

  function show(panel, state, number, error, cards) {
    panel.dataset.state = state;
    $(".number", panel).textContent = number;
    const message = $(".error", panel);
    message.hidden = !error;
    message.textContent = error || "";
    if (cards) $(".digits", panel).replaceChildren(...cards);
  }

  const showReading = (panel, result) => show(panel, "done", result.number, "",
    result.digits.map((d, i) => digitCard(d, result.inputs && result.inputs[i])));
  const showError = (panel, message) => show(panel, "error", "–", message, []);
  const showEmpty = (panel) => show(panel, "empty", "–", "", []);
  const showPending = (panel) => { panel.dataset.state = "pending"; };

  // ------------------------------------------------------------------ a drawing pad (Draw and Collect)
  // makePad(canvas, onChange): the strokes drawn on `canvas` with a mouse, a finger or a pen; onChange() after each
  // change. Returns { strokes, undo(), clear(), picture() }: picture() is the PNG that is sent to the server.
  function makePad(canvas, onChange) {
    const ink = canvas.getContext("2d");
    const strokes = [];
    let stroke = null;                  // the stroke being drawn, or null

    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width,
        (event.clientY - box.top) * canvas.height / box.height];
    };

    function redraw() {
      ink.fillStyle = "#fff";           // an opaque white sheet: the server sees dark ink on paper
      ink.fillRect(0, 0, canvas.width, canvas.height);
      Object.assign(ink, { strokeStyle: "#111", lineWidth: PEN_WIDTH, lineCap: "round", lineJoin: "round" });
      for (const points of strokes) {
        ink.beginPath();
        ink.moveTo(...points[0]);
        for (const p of points) ink.lineTo(...p);   // one point alone still draws a dot (round cap)
        ink.stroke();
      }
    }

    const changed = () => {
      redraw();
      onChange();
    };

    function picture() {
      // The empty rest of the pad would only cost the server time (benchmarks/bench_web.py --full-pad).
      const half = PEN_WIDTH / 2;
      let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
      for (const [x, y] of strokes.flat()) {
        [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
      }
      const margin = Math.max(MIN_MARGIN, MARGIN * (Math.max(right - left, bottom - top) + PEN_WIDTH));
      left = Math.max(0, Math.floor(left - half - margin));
      top = Math.max(0, Math.floor(top - half - margin));
      const width = Math.min(canvas.width, Math.ceil(right + half + margin)) - left;
      const height = Math.min(canvas.height, Math.ceil(bottom + half + margin)) - top;
      const scale = Math.min(1, SEND_SIDE / Math.max(width, height));
      const out = document.createElement("canvas");
      out.width = Math.max(8, Math.round(width * scale));
      out.height = Math.max(8, Math.round(height * scale));
      const context = out.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(canvas, left, top, width, height, 0, 0, out.width, out.height);
      return new Promise((done) => out.toBlob(done, "image/png"));
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      stroke = { id: event.pointerId, points: [point(event)] };
      strokes.push(stroke.points);
      changed();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!stroke || event.pointerId !== stroke.id) return;
      // Coalesced events: the points the browser merged into this one, so fast strokes stay smooth.
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      for (const e of events.length ? events : [event]) stroke.points.push(point(e));
      changed();
    });
    const endStroke = (event) => {
      if (stroke && event.pointerId === stroke.id) stroke = null;
    };
    ["pointerup", "pointercancel", "lostpointercapture"].forEach((type) => canvas.addEventListener(type, endStroke));

    redraw();
    return {
      strokes,
      picture,
      undo() {
        if (!strokes.length) return;
        strokes.pop();
        stroke = null;
        changed();
      },
      clear() {
        strokes.length = 0;
        stroke = null;
        changed();
      },
    };
  }

  // ------------------------------------------------------------------ the Draw tab
  const drawPanel = $("#draw-result");
  const save = $("#save");
  let version = 0;                      // bumped on every change: an answer for an older drawing is dropped
  let timer = 0;
  const pad = makePad($("#pad"), drawingChanged);

  function drawingChanged() {
    version += 1;
    clearTimeout(timer);
    if (!pad.strokes.length) {
      showEmpty(drawPanel);
      save.hidden = true;
      return;
    }
    showPending(drawPanel);
    timer = setTimeout(readDrawing, PAUSE_MS);
  }

  async function readDrawing() {
    const sent = version;
    const picture = await pad.picture();
    if (sent !== version) return;       // drawn on meanwhile: the newer drawing's reading is on its way
    offerDownload(picture);
    try {
      const result = await predict(picture);
      if (sent === version) showReading(drawPanel, result);
    } catch (err) {
      if (sent === version) showError(drawPanel, err.message);
    }
  }

  function offerDownload(picture) {
    // What was sent, to keep, or to read with `python mnist_app.py drawing.png`.
    if (save.href) URL.revokeObjectURL(save.href);
    save.href = URL.createObjectURL(picture);
    save.hidden = false;
  }

  $("#undo").addEventListener("click", () => pad.undo());
  $("#clear").addEventListener("click", () => pad.clear());
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z" && !$("#draw").hidden) {
      event.preventDefault();
      pad.undo();
    }
  });

  // ------------------------------------------------------------------ the Collect tab
  // Asks for 0-9 in a shuffled order, round after round; each drawing is saved by POST /api/collect?label=N.
  const collectStatus = $("#collect-status");
  const collectPad = makePad($("#collect-pad"), () => {});
  let order = [];
  let asked = null;
  let saving = false;

  function askNext() {
    if (!order.length) {
      order = [...Array(10).keys()];
      for (let i = order.length - 1; i > 0; i -= 1) {      // Fisher-Yates
        const j = Math.floor(Math.random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    asked = order.shift();
    $("#ask").textContent = String(asked);
  }

  function say(text, bad = false) {
    collectStatus.textContent = text;
    collectStatus.classList.toggle("bad", bad);
  }

  function showCounts(counts) {
    for (const row of document.querySelectorAll("#counts tbody tr")) {
      const numbers = counts[row.dataset.split];
      row.replaceChildren(row.firstElementChild, ...numbers.map((n) => el("td", "", String(n))),
        el("td", "", String(numbers.reduce((a, b) => a + b, 0))));
    }
    $("#collect-folder").textContent = counts.folder;
  }

  async function collectCall(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (_) {
      throw new Error("无法连接服务器 Cannot reach the server: is `python mnist_app.py --serve` still running?");
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  async function saveSample() {
    if (saving) return;
    if (!collectPad.strokes.length) {
      say(`先写一个 ${asked} Write a ${asked} first`, true);
      return;
    }
    saving = true;
    try {
      const picture = await collectPad.picture();
      const saved = await collectCall(`/api/collect?label=${asked}`,
        { method: "POST", body: picture, headers: { "Content-Type": "image/png" } });
      showCounts(saved.counts);
      say(`已保存 Saved: ${saved.file} (${saved.split === "test" ? "留作测试 held out" : "训练 to train on"})`);
      collectPad.clear();
      askNext();
    } catch (err) {
      say(err.message, true);
    } finally {
      saving = false;
    }
  }

  async function undoLast() {
    try {
      const removed = await collectCall("/api/collect/undo", { method: "POST" });
      showCounts(removed.counts);
      say(`已撤销 Removed: ${removed.file} (${removed.label})`);
    } catch (err) {
      say(err.message, true);
    }
  }

  $("#collect-save").addEventListener("click", saveSample);
  $("#collect-clear").addEventListener("click", () => collectPad.clear());
  $("#collect-undo").addEventListener("click", undoLast);
  document.addEventListener("keydown", (event) => {
    if ($("#collect").hidden) return;
    if (event.key === "Enter") {
      event.preventDefault();
      saveSample();
    } else if ((event.ctrlKey || event.metaKey) && event.key === "z") {
      event.preventDefault();
      collectPad.undo();
    }
  });
  askNext();
  collectCall("/api/collect/counts").then(showCounts, (err) => say(err.message, true));

  // ------------------------------------------------------------------ the photo
  const photoPanel = $("#photo-result");
  const frame = $(".photo-frame");
  const photo = $("#photo-img");
  const boxes = $(".boxes");
  let photoFile = null;
  let photoSeq = 0;

  function drawBoxes(result) {
    const width = photo.naturalWidth;
    const height = photo.naturalHeight;
    boxes.replaceChildren(...result.digits.map((d) => {
      const [x, y, w, h] = d.box;     // pixels of the upright original, as the browser shows it
      const box = el("div", "box");
      Object.assign(box.style, { left: `${100 * x / width}%`, top: `${100 * y / height}%`,
        width: `${100 * w / width}%`, height: `${100 * h / height}%` });
      box.append(el("span", "", `${d.digit} · ${percent(d.probability)}`));
      return box;
    }));
  }

  async function readPhoto(file) {
    if (!file) return;
    photoFile = file;
    const seq = ++photoSeq;
    boxes.replaceChildren();
    if (file.size > MAX_BYTES) {
      frame.hidden = true;
      showError(photoPanel, `${file.name}: ${(file.size / 1048576).toFixed(1)} MB, over the limit of 10 MB; ` +
        "send a smaller picture 图片超过 10 MB，请换一张小一点的");
      return;
    }
    if (photo.src) URL.revokeObjectURL(photo.src);
    photo.src = URL.createObjectURL(file);
    const shown = photo.decode().then(() => true, () => false);   // the server may read what no browser shows
    showPending(photoPanel);
    try {
      const result = await predict(file);
      if (seq !== photoSeq) return;
      showReading(photoPanel, result);
      frame.hidden = !(await shown);
      if (!frame.hidden && seq === photoSeq) drawBoxes(result);
    } catch (err) {
      if (seq !== photoSeq) return;
      frame.hidden = !(await shown);
      showError(photoPanel, err.message);
    }
  }

  for (const input of [$("#file"), $("#camera")]) {
    input.addEventListener("change", () => {
      readPhoto(input.files[0]);
      input.value = "";                 // choosing the same file again reads it again
    });
  }
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    readPhoto(event.dataTransfer.files[0]);
  });
  // A picture dropped beside the zone must not make the browser leave the page to show it.
  ["dragover", "drop"].forEach((type) => document.addEventListener(type, (event) => event.preventDefault()));

  // ------------------------------------------------------------------ tabs and the model switch
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      for (const other of tabs) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
      }
    });
  }

  const status = $("#status");
  const select = $("#model");

  const modelName = (name) => ({ fc: "全连接 FC", lenet5: "LeNet-5", "fc-mine": "全连接 FC · 你的字 yours",
    "lenet5-mine": "LeNet-5 · 你的字 yours" })[name] || name;

  function showModel(models) {
    const step = models.find((m) => m.name === model).checkpoint_step;
    status.textContent = `${modelName(model)} · 训练 ${step} 步 trained ${step} steps`;
  }

  async function loadModels() {
    try {
      const response = await fetch("/api/models");
      const answer = await response.json();
      model = answer.default;
      select.replaceChildren(...answer.models.map((m) => {
        const option = el("option", "", modelName(m.name));
        option.value = m.name;
        return option;
      }));
      select.value = model;
      $("#model-box").hidden = answer.models.length < 2;
      showModel(answer.models);
      select.addEventListener("change", () => {
        model = select.value;
        showModel(answer.models);
        if (pad.strokes.length) drawingChanged();    // read both again with the other network
        if (photoFile) readPhoto(photoFile);
      });
    } catch (_) {
      status.textContent = "无法连接服务器 Cannot reach the server";
      status.classList.add("bad");
    }
  }

  loadModels();
})();
