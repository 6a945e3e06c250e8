// The official @trigger.dev/sdk, unchanged, against a running runyard (TRIGGER_API_URL, TRIGGER_SECRET_KEY).
import { test } from "node:test";
import assert from "node:assert/strict";
import { configure, tasks, runs, batch, queues, idempotencyKeys, schedules } from "@trigger.dev/sdk";

configure({ baseURL: process.env.TRIGGER_API_URL, accessToken: process.env.TRIGGER_SECRET_KEY });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELED", "CRASHED", "TIMED_OUT", "EXPIRED", "SYSTEM_FAILURE"]);

async function until(id, predicate, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await runs.retrieve(id);
    if (predicate(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} stuck in ${run.status}`);
    await sleep(50);
  }
}

test("trigger, then retrieve the output, payload, tags and flags", async () => {
  const handle = await tasks.trigger("add", { a: 2, b: 40 }, { tags: ["sdk", "user_1"], metadata: { who: "sdk" } });
  assert.match(handle.id, /^run_[0-9a-z]{26}$/);
  assert.equal(typeof handle.publicAccessToken, "string");
  const run = await until(handle.id, (r) => r.isCompleted);
  assert.equal(run.status, "COMPLETED");
  assert.equal(run.isSuccess, true);
  assert.equal(run.output, 42);
  assert.deepEqual(run.payload, { a: 2, b: 40 });
  assert.deepEqual(run.tags, ["sdk", "user_1"]);
  assert.deepEqual(run.metadata, { who: "sdk" });
  assert.equal(run.attemptCount, 1);
  assert.ok(run.startedAt instanceof Date && run.finishedAt instanceof Date);
  assert.ok(run.finishedAt >= run.startedAt);
});

test("idempotency: the same key returns the same run", async () => {
  const key = await idempotencyKeys.create(`order-${Date.now()}`);
  const first = await tasks.trigger("add", { a: 1, b: 1 }, { idempotencyKey: key });
  const second = await tasks.trigger("add", { a: 9, b: 9 }, { idempotencyKey: key });
  assert.equal(second.id, first.id);
  const other = await tasks.trigger("add", { a: 1, b: 1 }, { idempotencyKey: await idempotencyKeys.create("x" + Date.now()) });
  assert.notEqual(other.id, first.id);
});

test("batchTrigger (two-phase) creates every run, readable through batch.retrieve", async () => {
  const result = await tasks.batchTrigger("add", [
    { payload: { a: 1, b: 2 } },
    { payload: { a: 3, b: 4 }, options: { tags: ["batched"] } },
    { payload: { a: 5, b: 6 } },
  ]);
  assert.match(result.batchId, /^batch_/);
  assert.equal(result.runCount, 3);
  const info = await batch.retrieve(result.batchId);
  assert.equal(info.runs.length, 3);
  assert.equal(info.status, "COMPLETED");
  const outputs = [];
  for (const id of info.runs) outputs.push((await until(id, (r) => r.isCompleted)).output);
  assert.deepEqual(outputs, [3, 7, 11]);
});

test("delay: DELAYED until due, then it runs; reschedule moves it", async () => {
  const handle = await tasks.trigger("add", { a: 1, b: 2 }, { delay: "1s" });
  const delayed = await runs.retrieve(handle.id);
  assert.equal(delayed.status, "DELAYED");
  assert.ok(delayed.delayedUntil instanceof Date);
  const done = await until(handle.id, (r) => r.isCompleted);
  assert.equal(done.status, "COMPLETED");

  const later = await tasks.trigger("add", { a: 1, b: 2 }, { delay: "1h" });
  const moved = await runs.reschedule(later.id, { delay: "2h" });
  assert.equal(moved.status, "DELAYED");
  assert.ok(moved.delayedUntil.getTime() - Date.now() > 90 * 60 * 1000);
  const canceled = await runs.cancel(later.id);
  assert.equal(canceled.id, later.id);
  assert.equal((await runs.retrieve(later.id)).status, "CANCELED");
});

test("ttl: a run that cannot start in time EXPIRES and never executes", async () => {
  const handle = await tasks.trigger("held", { x: 1 }, { ttl: "1s" });
  const run = await until(handle.id, (r) => FINAL.has(r.status), 10000);
  assert.equal(run.status, "EXPIRED");
  assert.equal(run.startedAt, undefined);
  assert.ok(run.expiredAt instanceof Date);
});

test("a queue's concurrency limit is never exceeded", async () => {
  await queues.overrideConcurrencyLimit({ type: "custom", name: "serial" }, 1);
  const handles = [];
  for (let i = 0; i < 4; i++) handles.push(await tasks.trigger("nap", {}, { queue: "serial" }));
  let maxExecuting = 0;
  for (;;) {
    const page = await runs.list({ taskIdentifier: "nap", limit: 50 });
    const executing = page.data.filter((r) => r.status === "EXECUTING").length;
    maxExecuting = Math.max(maxExecuting, executing);
    if (page.data.filter((r) => r.isCompleted).length === handles.length) break;
    await sleep(20);
  }
  assert.equal(maxExecuting, 1);
  const spans = [];
  for (const h of handles) {
    const r = await runs.retrieve(h.id);
    spans.push([r.startedAt.getTime(), r.finishedAt.getTime()]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], "two runs overlapped");
});

test("list with filters and cursor pagination", async () => {
  const tag = `page_${Date.now()}`;
  for (let i = 0; i < 3; i++) await tasks.trigger("held", {}, { tags: [tag] });
  const first = await runs.list({ tag, limit: 2 });
  assert.equal(first.data.length, 2);
  assert.ok(first.data.every((r) => r.status === "QUEUED" && r.env.id));
  const ids = first.data.map((r) => r.id);
  const all = [];
  for await (const run of runs.list({ tag, limit: 2 })) all.push(run.id);
  assert.equal(all.length, 3);
  assert.deepEqual(all.slice(0, 2), ids);
  const completed = await runs.list({ taskIdentifier: "add", status: ["COMPLETED"], limit: 100 });
  assert.ok(completed.data.length > 0 && completed.data.every((r) => r.status === "COMPLETED"));
});

test("replay makes a new run with the same payload", async () => {
  const handle = await tasks.trigger("add", { a: 20, b: 3 });
  await until(handle.id, (r) => r.isCompleted);
  const replayed = await runs.replay(handle.id);
  assert.notEqual(replayed.id, handle.id);
  const run = await until(replayed.id, (r) => r.isCompleted);
  assert.equal(run.output, 23);
});

test("a failing task is retried with Trigger.dev's defaults, then FAILED with its error", async () => {
  const handle = await tasks.trigger("boom", {}, { maxAttempts: 2 });
  const run = await until(handle.id, (r) => r.isCompleted, 30000);
  assert.equal(run.status, "FAILED");
  assert.equal(run.attemptCount, 2);
  assert.equal(run.error.name, "ValueError");
  assert.match(run.error.message, /boom/);
});

test("a large payload is offloaded through the packets API and arrives whole", async () => {
  const big = { text: "x".repeat(200 * 1024), n: 7 };
  const handle = await tasks.trigger("echo", big);
  const run = await until(handle.id, (r) => r.isCompleted);
  assert.equal(run.status, "COMPLETED");
  assert.equal(run.payload.text.length, 200 * 1024);
  assert.equal(run.output.echo.n, 7);
});

test("bad input is a clear error and creates nothing", async () => {
  await assert.rejects(tasks.trigger("no-such-task", {}), (err) => err.status === 404);
  await assert.rejects(
    tasks.trigger("add", {}, { tags: ["1", "2", "3", "4", "5", "6"] }),
    (err) => err.status === 400 && /tags/i.test(err.message),
  );
  await assert.rejects(tasks.trigger("add", {}, { delay: "whenever" }), (err) => err.status === 400);
});

test("schedules: create (deduplicated), retrieve, list, update, deactivate, activate, delete", async () => {
  const key = `nightly-${Date.now()}`;
  const created = await schedules.create({
    task: "add", cron: "0 3 * * *", timezone: "Europe/Berlin", externalId: "user_1", deduplicationKey: key,
  });
  assert.match(created.id, /^sched_[0-9a-z]{26}$/);
  assert.equal(created.type, "IMPERATIVE");
  assert.equal(created.active, true);
  assert.deepEqual(created.generator, { type: "CRON", expression: "0 3 * * *", description: "At 03:00 every day" });
  assert.equal(created.timezone, "Europe/Berlin");
  assert.equal(created.externalId, "user_1");
  assert.equal(created.deduplicationKey, key);
  assert.ok(created.nextRun instanceof Date && created.nextRun > new Date());
  const berlin = created.nextRun.toLocaleTimeString("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" });
  assert.equal(berlin, "03:00");
  assert.equal(created.environments.length, 1);

  const again = await schedules.create({ task: "add", cron: "30 4 * * *", timezone: "Europe/Berlin", deduplicationKey: key });
  assert.equal(again.id, created.id, "the same deduplicationKey updates the schedule");
  assert.equal(again.generator.expression, "30 4 * * *");

  assert.equal((await schedules.retrieve(created.id)).generator.expression, "30 4 * * *");
  const page = await schedules.list({ perPage: 100 });
  assert.ok(page.data.some((s) => s.id === created.id));

  const updated = await schedules.update(created.id, { task: "echo", cron: "@hourly", externalId: "user_2" });
  assert.equal(updated.task, "echo");
  assert.equal(updated.timezone, "UTC");
  assert.equal(updated.externalId, "user_2");
  assert.equal(updated.nextRun.getUTCMinutes(), 0);

  const off = await schedules.deactivate(created.id);
  assert.equal(off.active, false);
  assert.equal(off.nextRun ?? null, null);
  assert.equal((await schedules.activate(created.id)).active, true);

  assert.deepEqual(await schedules.del(created.id), { id: created.id });
  await assert.rejects(schedules.retrieve(created.id), (e) => e.status === 404);
});

test("schedules: bad input is a 400 with the reason, and the time zone list needs no key", async () => {
  await assert.rejects(
    schedules.create({ task: "add", cron: "61 * * * *", deduplicationKey: `bad-${Date.now()}` }),
    (e) => e.status === 400 && /invalid cron expression/.test(e.message),
  );
  await assert.rejects(
    schedules.create({ task: "add", cron: "@hourly", timezone: "Mars/Olympus", deduplicationKey: `bad-${Date.now()}` }),
    (e) => e.status === 400 && /unknown time zone/.test(e.message),
  );
  await assert.rejects(
    schedules.create({ task: "nope", cron: "@hourly", deduplicationKey: `bad-${Date.now()}` }),
    (e) => e.status === 404,
  );
  const { timezones } = await schedules.timezones();
  assert.ok(timezones.includes("Europe/Berlin") && timezones.includes("UTC"));
  assert.ok(!(await schedules.timezones({ excludeUtc: true })).timezones.includes("UTC"));
});

test("a scheduled run carries what a scheduled task receives", async () => {
  const s = await schedules.create({
    task: "echo", cron: "* * * * * *", externalId: "user_9", deduplicationKey: `every-second-${Date.now()}`,
  });
  try {
    const deadline = Date.now() + 20000;
    let payload;
    while (!payload) {
      assert.ok(Date.now() < deadline, "no scheduled run within 20s");
      for (const listed of (await runs.list({ taskIdentifier: "echo", limit: 20 })).data) {
        const run = await runs.retrieve(listed.id);
        if (run.payload?.scheduleId === s.id) payload = run.payload;
      }
      if (!payload) await sleep(200);
    }
    assert.equal(payload.type, "IMPERATIVE");
    assert.equal(payload.timezone, "UTC");
    assert.equal(payload.externalId, "user_9");
    assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
    assert.equal(payload.upcoming.length, 5);
    assert.ok(payload.upcoming.every((u) => Date.parse(u) > Date.parse(payload.timestamp)));
  } finally {
    await schedules.del(s.id);
  }
});
