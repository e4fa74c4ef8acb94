// Checks a licence document in the browser, with WebCrypto only: the
// checkpoint's Ed25519 signature under the log key that the licence's link
// pins (in the URL fragment, which the browser never sends), the entry's
// leaf hash, its inclusion proof (RFC 9162), and every field of the
// licence against the approval the entry holds. Nothing is sent anywhere.
(function () {
  "use strict";
  var form = document.getElementById("verify");
  var fileInput = document.getElementById("licence-file");
  var keyInput = document.getElementById("log-key");
  var verdict = document.getElementById("verdict");
  if (!form || !window.crypto || !window.crypto.subtle) {
    return;
  }
  var t = form.dataset;
  var link = new URLSearchParams(window.location.hash.slice(1));
  var pinnedDigest = link.get("digest");
  if (link.get("key")) {
    keyInput.value = link.get("key");
  }

  function Failure(message) {
    this.message = message;
  }
  function fail(message) {
    throw new Failure(message);
  }
  var encoder = new TextEncoder();
  function concat(parts) {
    var length = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(length);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function base64(text, what) {
    try {
      var raw = atob(text);
    } catch (e) {
      fail(what);
    }
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        return false;
      }
    }
    return true;
  }

  // A C2SP verifier key: name+hex8+base64(0x01 || public key). The name
  // has no "+"; the base64 may.
  function parseKey(text) {
    var match = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+\/=]+)$/.exec(text.trim());
    if (!match) {
      fail(t.key);
    }
    var raw = base64(match[3], t.key);
    if (raw.length !== 33 || raw[0] !== 1) {
      fail(t.key);
    }
    return { name: match[1], id: match[2], raw: raw };
  }

  // The signed note: its text, and the key's Ed25519 signature of it.
  function checkNote(note, key, origin) {
    var split = note.indexOf("\n\n");
    if (split < 0) {
      fail(t.signature);
    }
    var text = note.slice(0, split + 1);
    var lines = text.split("\n");
    if (lines[0] !== origin) {
      fail(t.origin);
    }
    var size = Number(lines[1]);
    if (!/^[0-9]+$/.test(lines[1]) || !Number.isSafeInteger(size)) {
      fail(t.signature);
    }
    var root = base64(lines[2] || "", t.signature);
    var signatures = note.slice(split + 2).split("\n").filter(function (l) {
      return l.indexOf("\u2014 " + key.name + " ") === 0;
    });
    return sha256(concat([encoder.encode(key.name + "\n"), key.raw])).then(function (id) {
      if (hex(id.slice(0, 4)) !== key.id) {
        fail(t.key);
      }
      return crypto.subtle.importKey("raw", key.raw.slice(1), { name: "Ed25519" }, false, ["verify"])
        .catch(function () { fail(t.crypto); });
    }).then(function (publicKey) {
      var checks = signatures.map(function (line) {
        var sig = base64(line.slice(line.lastIndexOf(" ") + 1), t.signature);
        if (sig.length !== 68 || hex(sig.slice(0, 4)) !== key.id) {
          return Promise.resolve(false);
        }
        return crypto.subtle.verify({ name: "Ed25519" }, publicKey, sig.slice(4), encoder.encode(text));
      });
      return Promise.all(checks);
    }).then(function (results) {
      if (!results.some(Boolean)) {
        fail(t.signature);
      }
      return { size: size, root: root };
    });
  }

  function node(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  // RFC 9162, section 2.1.3.2.
  function checkInclusion(leaf, index, size, proof, root) {
    if (index >= size) {
      fail(t.inclusion);
    }
    var fn = index;
    var sn = size - 1;
    var chain = Promise.resolve(leaf);
    proof.forEach(function (sibling) {
      chain = chain.then(function (r) {
        if (sn === 0) {
          fail(t.inclusion);
        }
        var next;
        if (fn % 2 === 1 || fn === sn) {
          next = node(sibling, r);
          if (fn % 2 === 0) {
            while (fn % 2 === 0 && fn !== 0) {
              fn = Math.floor(fn / 2);
              sn = Math.floor(sn / 2);
            }
          }
        } else {
          next = node(r, sibling);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
        return next;
      });
    });
    return chain.then(function (r) {
      if (sn !== 0 || !equal(r, root)) {
        fail(t.inclusion);
      }
    });
  }

  function sameFields(a, b) {
    var ka = Object.keys(a || {}).sort();
    var kb = Object.keys(b || {}).sort();
    return ka.length === kb.length && ka.every(function (k, i) {
      return k === kb[i] && a[k] === b[k];
    });
  }

  function check(bytes) {
    var doc;
    var entry;
    var receipt;
    return sha256(bytes).then(function (digest) {
      if (pinnedDigest && hex(digest) !== pinnedDigest.toLowerCase()) {
        fail(t.digest);
      }
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch (e) {
        fail(t.notJson);
      }
      receipt = doc && doc.decision;
      if (!doc || doc.format !== "zkgov-licence-v1" || !receipt || typeof receipt.entry !== "string") {
        fail(t.notJson);
      }
      if (!keyInput.value.trim()) {
        fail(t.noKey);
      }
      return checkNote(String(receipt.checkpoint), parseKey(keyInput.value), doc.origin);
    }).then(function (checkpoint) {
      var entryBytes = encoder.encode(receipt.entry);
      return sha256(concat([new Uint8Array([0]), entryBytes])).then(function (leaf) {
        if (!equal(leaf, base64(String(receipt.leaf_hash), t.leaf))) {
          fail(t.leaf);
        }
        var proof = (receipt.inclusion_proof || []).map(function (h) { return base64(String(h), t.inclusion); });
        return checkInclusion(leaf, Number(receipt.index), checkpoint.size, proof, checkpoint.root);
      });
    }).then(function () {
      try {
        entry = JSON.parse(receipt.entry);
      } catch (e) {
        fail(t.decision);
      }
      var licence = entry.licence;
      if (entry.type !== "decision" || entry.decision !== "approved" || !licence) {
        fail(t.decision);
      }
      var mismatch = function (field) { fail(t.mismatch.replace("{}", field)); };
      if (entry.case_id !== doc.case_id) { mismatch("case_id"); }
      if (licence.number !== doc.number) { mismatch("number"); }
      if (licence.registry !== doc.registry) { mismatch("registry"); }
      if (!sameFields(licence.fields, doc.fields)) { mismatch("fields"); }
      return [
        [t.lNumber, doc.number],
        [t.lCase, doc.case_id],
        [t.lRegistry, doc.registry],
        [t.lDepartment, entry.department],
        [t.lDecided, entry.time],
        [t.lEntry, String(receipt.index)],
      ].concat(Object.keys(doc.fields).sort().map(function (k) { return [k, doc.fields[k]]; }));
    });
  }

  function show(ok, message, rows) {
    verdict.replaceChildren();
    var heading = document.createElement("p");
    heading.className = "state " + (ok ? "verified" : "unmet");
    heading.id = "verdict-state";
    heading.setAttribute("data-valid", ok ? "true" : "false");
    heading.textContent = ok ? t.ok : t.bad + ": " + message;
    verdict.appendChild(heading);
    if (rows) {
      var list = document.createElement("dl");
      list.className = "summary";
      rows.forEach(function (row) {
        var div = document.createElement("div");
        var dt = document.createElement("dt");
        var dd = document.createElement("dd");
        dt.textContent = row[0];
        dd.textContent = row[1];
        div.appendChild(dt);
        div.appendChild(dd);
        list.appendChild(div);
      });
      verdict.appendChild(list);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = fileInput.files && fileInput.files[0];
    if (!file) {
      show(false, t.notJson);
      return;
    }
    file.arrayBuffer().then(function (buffer) {
      return check(new Uint8Array(buffer));
    }).then(function (rows) {
      show(true, "", rows);
    }, function (error) {
      show(false, error instanceof Failure ? error.message : t.notJson);
    });
  });
})();
