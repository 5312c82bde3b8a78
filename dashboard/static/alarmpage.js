// The hook for pages that do not follow /ws/live themselves (session review): the alarm strip, the
// tones and the connection banner, so that no signed-in page hides an alarm.
"use strict";

import { AlarmWatch } from "./alarmwatch.js";
import { LiveConnection, serverNow } from "./common.js";

let pending = false;
let watch = null;
let live = null;

function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; watch.render(serverNow(), live.current); });
}

watch = new AlarmWatch(schedule);
live = new LiveConnection((msg) => { if (watch.apply(msg)) schedule(); }, schedule);
live.connect();
setInterval(schedule, 1000);
window.ivmonAlarms = { watch, live, audio: watch.audio };
