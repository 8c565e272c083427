// 接種会場の記録: a station scans 接種券 (a keyboard-wedge scanner types the 18 digits and Enter), sees the
// person and the verdict, records with F2 and undoes the last record with F4. The station's presets and a
// record not yet confirmed by the server live in this browser's localStorage (no person data there: only
// the 18-digit ticket number and the day), so a failed submit survives a reload and is sent again.
(function () {
  "use strict";
  var root = document.getElementById("venue");
  if (!root) { return; }
  var STATION_KEY = "sesshu.venue.station", PENDING_KEY = "sesshu.venue.pending";
  var csrf = root.getAttribute("data-csrf");
  var stationForm = document.getElementById("station-form");
  var scanForm = document.getElementById("scan-form"), scanInput = document.getElementById("scan");
  var current = document.getElementById("current"), log = document.getElementById("log");
  var recordButton = document.getElementById("record"), undoButton = document.getElementById("undo");
  var pendingBox = document.getElementById("pending"), pendingText = document.getElementById("pending-text");
  var shown = null;  // {scan, vaccinated_on, refusal}
  var last = null;   // {record_id, version, until (ms), li}
  var busy = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function load(key) { try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; } }
  function save(key, value) {
    try { if (value === null) { window.localStorage.removeItem(key); } else { window.localStorage.setItem(key, JSON.stringify(value)); } }
    catch (e) { /* private mode: the page's own state still holds it */ }
  }

  function station() {
    var out = {};
    new FormData(stationForm).forEach(function (v, k) { out[k] = String(v); });
    return out;
  }
  function summarise() {
    var s = station(), parts = [];
    stationForm.querySelectorAll("select").forEach(function (sel) {
      if (sel.value) { parts.push(sel.options[sel.selectedIndex].text); }
    });
    if (s.lot_no) { parts.push("Lot " + s.lot_no); }
    if (s.dose_volume_ml) { parts.push(s.dose_volume_ml + "mL"); }
    document.getElementById("station-summary").textContent = parts.length ? "設定: " + parts.join(" / ") : "";
  }
  (function restoreStation() {
    var s = load(STATION_KEY) || {};
    Object.keys(s).forEach(function (k) {
      var input = stationForm.elements.namedItem(k);
      if (input) { input.value = s[k]; }
    });
    summarise();
  })();
  stationForm.addEventListener("change", function () { save(STATION_KEY, station()); summarise(); });
  stationForm.addEventListener("input", function () { save(STATION_KEY, station()); summarise(); });

  function today() {
    var d = new Date(Date.now() + 9 * 3600 * 1000);  // the day in Japan
    return d.toISOString().slice(0, 10);
  }

  function call(url, body) {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, 10000) : null;
    return fetch(url, {
      method: "POST", credentials: "same-origin", signal: ctl ? ctl.signal : undefined,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (timer) { clearTimeout(timer); }
      if (r.status === 401) { window.location.href = "/login"; return new Promise(function () {}); }
      if (r.status >= 500) { throw new Error("server " + r.status); }
      return r.json().then(function (data) { return {status: r.status, data: data}; });
    }, function (e) { if (timer) { clearTimeout(timer); } throw e; });
  }

  function message(cls, text, role) {
    var p = el("p", "msg " + cls, text);
    if (role) { p.setAttribute("role", role); }
    return p;
  }

  function showPerson(data) {
    current.textContent = "";
    var p = data.person;
    if (p) {
      var box = el("div", "venue-person");
      box.appendChild(el("strong", "", p.name));
      box.appendChild(el("span", "kana", p.name_kana));
      box.appendChild(el("span", "", "生年月日 " + p.birth_wareki + "（" + p.birth_date + "）"));
      box.appendChild(el("span", "age", p.age));
      box.appendChild(el("span", "muted", "宛名番号 " + p.atena_no));
      current.appendChild(box);
    }
    if (data.refusal) {
      current.appendChild(message("error refusal", "記録できません：" + data.refusal, "alert"));
    }
    var v = data.verdict;
    if (v) {
      var head = el("p", "verdict");
      head.appendChild(el("span", "badge big verdict-" + v.status, v.label + (v.dose_number ? "　" + v.dose_number + "回目" : "")));
      if (data.ticket) { head.appendChild(el("span", "muted", "　券番号 " + data.ticket.ticket_no + "（" + data.vaccinated_on.wareki + "の接種）")); }
      current.appendChild(head);
    }
    if (data.warnings && data.warnings.length) {
      var ul = el("ul", "venue-warnings");
      ul.setAttribute("role", "alert");
      data.warnings.forEach(function (w) { ul.appendChild(el("li", "", w)); });
      current.appendChild(ul);
    }
    if (!data.refusal && p) {
      current.appendChild(el("p", "hint", "F2キーで接種を記録します。"));
    }
  }

  function clearShown() {
    shown = null;
    recordButton.disabled = !load(PENDING_KEY);
    current.textContent = "";
    current.appendChild(el("p", "muted", "接種券を読み取ると、対象者と接種の判定がここに表示されます。"));
    scanInput.focus();
  }

  function lookUp(scan) {
    if (!station().vaccine_code) {
      current.textContent = "";
      current.appendChild(message("error", "先に端末の設定で接種種別（ワクチン）を選んでください", "alert"));
      document.getElementById("s-vaccine_code").focus();
      return;
    }
    var day = today();
    current.textContent = "";
    current.appendChild(el("p", "muted", "照会中…"));
    call("/venue/scan", {scan: scan, station: station(), vaccinated_on: day}).then(function (res) {
      if (res.status !== 200) {
        shown = null;
        current.textContent = "";
        current.appendChild(message("error refusal", res.data.error || "照会できませんでした", "alert"));
        recordButton.disabled = !load(PENDING_KEY);
        return;
      }
      shown = {scan: res.data.scan, vaccinated_on: day, refusal: res.data.refusal};
      showPerson(res.data);
      recordButton.disabled = !!res.data.refusal && !load(PENDING_KEY);
    }).catch(function () {
      shown = null;
      current.textContent = "";
      current.appendChild(message("error", "照会できませんでした（通信エラー）。もう一度読み取ってください", "alert"));
    });
  }

  function showPending() {
    var p = load(PENDING_KEY);
    pendingBox.hidden = !p;
    if (p) {
      pendingText.textContent = "券番号 " + p.scan + "（" + p.vaccinated_on + "の接種）— 記録できたか確認できていません。";
      recordButton.disabled = false;
    }
  }

  function logLine(res) {
    var d = res.data, li = el("li");
    li.textContent = (new Date()).toLocaleTimeString("ja-JP") + "　" + (d.name || ("宛名番号 " + d.atena_no)) + "　" +
      d.vaccine_code + (d.verdict && d.verdict.dose_number ? " " + d.verdict.dose_number + "回目" : "") +
      (d.error_code ? "（" + d.error_code + "）" : "") + (d.replayed ? "（記録済みを確認）" : "");
    log.insertBefore(li, log.firstChild);
    return li;
  }

  function send(entry) {
    if (busy) { return; }
    busy = true;
    save(PENDING_KEY, entry);  // kept until the server says it is stored (or refuses it)
    call("/venue/record", {scan: entry.scan, station: entry.station, vaccinated_on: entry.vaccinated_on,
                           confirm_invalid: entry.confirm_invalid === true}).then(function (res) {
      busy = false;
      save(PENDING_KEY, null);
      showPending();
      if (res.status !== 200 && res.data.code === "E_CONFIRM_INVALID" && shown) {
        // An invalid dose is never stored by one key: the second F2 stores it as invalid (hand entry's rule).
        shown.confirm_invalid = true;
        current.appendChild(message("error refusal", "この接種は無効と判定されます（まだ記録していません）。" +
          "無効の接種として記録する場合は、もう一度F2キーを押してください。記録しない場合はEscキー", "alert"));
        recordButton.disabled = false;
        scanInput.focus();
        return;
      }
      if (res.status !== 200) {
        current.textContent = "";
        current.appendChild(message("error refusal", "記録できませんでした：" + (res.data.error || ""), "alert"));
        recordButton.disabled = true;
        shown = null;
        scanInput.focus();
        return;
      }
      var li = logLine(res);
      last = {record_id: res.data.record_id, version: res.data.version, until: Date.parse(res.data.undo_until), li: li};
      undoButton.disabled = false;
      shown = null;
      recordButton.disabled = true;
      current.textContent = "";
      current.appendChild(message("ok recorded", "記録しました：" + (res.data.name || ("宛名番号 " + res.data.atena_no)) +
        (res.data.verdict ? "　" + res.data.verdict.label + (res.data.verdict.dose_number ? " " + res.data.verdict.dose_number + "回目" : "") : "") +
        "。次の方の接種券を読み取ってください（取消はF4）", "status"));
      scanInput.focus();
    }).catch(function () {
      busy = false;
      showPending();
      current.appendChild(message("error", "記録できませんでした（通信エラー）。読み取った内容は残っています。F2キーで再送してください", "alert"));
      scanInput.focus();
    });
  }

  function record() {
    var p = load(PENDING_KEY);
    if (p) { send(p); return; }
    if (!shown || shown.refusal) { return; }
    send({scan: shown.scan, vaccinated_on: shown.vaccinated_on, station: station(), at: Date.now(),
          confirm_invalid: shown.confirm_invalid === true});
  }

  function undo() {
    if (!last || busy) { return; }
    if (Date.now() > last.until) {
      current.textContent = "";
      current.appendChild(message("error", "取消できる時間を過ぎました（上長の職権修正で取り消してください）", "alert"));
      undoButton.disabled = true;
      return;
    }
    busy = true;
    var target = last;
    call("/venue/undo", {record_id: target.record_id, version: target.version}).then(function (res) {
      busy = false;
      current.textContent = "";
      if (res.status !== 200) {
        current.appendChild(message("error", "取り消せませんでした：" + (res.data.error || ""), "alert"));
        return;
      }
      target.li.className = "undone";
      target.li.appendChild(document.createTextNode("（取消済み）"));
      last = null;
      undoButton.disabled = true;
      current.appendChild(message("ok", "直前の記録を取り消しました。接種券は再び使えます", "status"));
      scanInput.focus();
    }).catch(function () {
      busy = false;
      current.appendChild(message("error", "取り消せませんでした（通信エラー）。もう一度F4キーを押してください", "alert"));
    });
  }

  scanForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var value = scanInput.value.trim();
    scanInput.value = "";
    if (value) { lookUp(value); }
  });
  recordButton.addEventListener("click", record);
  undoButton.addEventListener("click", undo);
  document.getElementById("pending-retry").addEventListener("click", record);
  document.getElementById("pending-drop").addEventListener("click", function () {
    if (window.confirm("未送信の記録を破棄します。接種の記録は別途確認してください。よろしいですか")) {
      save(PENDING_KEY, null);
      showPending();
      clearShown();
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "F2") { e.preventDefault(); record(); }
    else if (e.key === "F4") { e.preventDefault(); undo(); }
    else if (e.key === "Escape") { e.preventDefault(); scanInput.value = ""; clearShown(); }
  });
  showPending();
})();
