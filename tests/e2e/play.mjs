// Plays an asset of an ismfs mount, served by nginx, in headless Chromium with real players:
// shaka-player 4 for DASH (mpd-time-csf, mpd-time-cmaf) and HLS (m3u8-cmaf, m3u8-aapl), dash.js 4
// with its MSS module for Smooth Streaming. Prints TAP-style lines ("ok - ..." / "not ok - ...",
// "# ..." diagnostics); exits 1 when a check failed. tests/integration/e2e_play.sh sets up the
// mount and nginx and calls this.
//
//   node tests/e2e/play.mjs --base http://127.0.0.1:PORT --asset ladder/ladder.ism \
//        --heights 360,270,180 --duration 10 --frames 240 [--rate 4] [--timeout 60] \
//        [--only FMT,...] [--chromium /usr/bin/chromium]
//        [--filter NAME] [--video-fragments T,...] [--video-track video]
//        [--frame-ref FILE --frame-crop X,Y,W,H --first-frame N [--last-frame N]]
//   E2E_DEBUG=1: shaka's verbose log on stderr (to diagnose a failure).
//
// For each format, in a page of its own (tests/e2e/player.html), within --timeout seconds:
//   load: the player parses the manifest, the media element's duration is the asset's;
//   renditions: the player lists one video rendition per height, with distinct bandwidths,
//     and the audio languages en and fr;
//   play: the top rendition plays from 0 to the end ('ended' or currentTime >= duration - 0.5)
//     at --rate, and the video element decoded at least 90% of --frames frames;
//   seek: paused, seek to duration/2, switch to the next rendition: it plays to the end;
//   audio: paused at 0, select French (then the lowest rendition): the player's active track is
//     French, French audio segments are fetched, playback from 0 reaches the end;
//   each playback also: no stall (15 s), playbackRate stays --rate, the timeline does not
//     grow past the asset's duration, the playhead never jumps, more frames are decoded;
//   no player or media error (nor an error in the players' console log: shaka's debug build
//   reports segments whose media times disagree with the manifest) and no failed HTTP
//   request during all of it.
// Options for a trimmed presentation (tests/integration/e2e_filters.sh):
//   --filter NAME: plays manifest(format=FMT,filter=NAME) (Smooth: manifest(filter=NAME));
//   --video-fragments T,...: the media times (URL units) of the video fragments the player must
//     request, all of them and no other, the first one first (Fragments(TRACK=T,...) of any
//     rendition; TRACK is --video-track);
//   --frame-ref FILE: the top rendition's frames, decoded (ffmpeg -vf crop=W:H:X:Y,format=gray
//     -f rawvideo): the X,Y,W,H region of each, 8-bit luma, one after the other. The frame the
//     element shows is identified as the reference nearest to the same region of a canvas
//     copy (normalized correlation: scaling and YUV->RGB matrices differ). --first-frame N: at
//     the start (where the player put the playhead at load), before playing, the element
//     shows frame N of the source; --last-frame N: after the first playback, paused half a
//     frame (of --frames over --duration) before the end, frame N.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
}, []));
const base = args.base;
const asset = args.asset || 'ladder/ladder.ism';
const heights = (args.heights || '360,270,180').split(',').map(Number);
const expDuration = Number(args.duration || 10);
const expFrames = Number(args.frames || 0);
const rate = Number(args.rate || 4);
const timeoutS = Number(args.timeout || 60);
const chromiumPath = args.chromium || '/usr/bin/chromium';
if (!base) { console.log('not ok - play.mjs: --base is required'); process.exit(1); }
const filter = args.filter || '';
const videoTrack = args['video-track'] || 'video';
const expFragments = args['video-fragments'] ? args['video-fragments'].split(',').map(Number) : null;
const crop = (args['frame-crop'] || '0,0,104,36').split(',').map(Number);
let frameRef = null;
if (args['frame-ref']) {
    const buf = readFileSync(args['frame-ref']);
    const n = crop[2] * crop[3];
    frameRef = [];
    for (let i = 0; i + n <= buf.length; i += n) frameRef.push(normalize(Array.from(buf.subarray(i, i + n))));
}
// Zero mean, unit norm (a flat image stays all zeros).
function normalize(v) {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const c = v.map((x) => x - m);
    const n = Math.sqrt(c.reduce((a, b) => a + b * b, 0)) || 1;
    return c.map((x) => x / n);
}
// The reference frame nearest to LUMA: {index, score, second} (second: the runner-up's score).
function identify(luma) {
    const v = normalize(luma);
    let best = -1, score = -2, second = -2;
    frameRef.forEach((r, i) => {
        let d = 0;
        for (let k = 0; k < r.length; k++) d += r[k] * v[k];
        if (d > score) { second = score; score = d; best = i; } else if (d > second) second = d;
    });
    return { index: best, score: +score.toFixed(4), second: +second.toFixed(4) };
}
const withFilter = (path) => (!filter ? path : path === 'manifest' ? `manifest(filter=${filter})`
    : path.replace(/\)$/, `,filter=${filter})`));

const FORMATS = [
    { name: 'mpd-time-csf', player: 'shaka', path: 'manifest(format=mpd-time-csf)' },
    { name: 'mpd-time-cmaf', player: 'shaka', path: 'manifest(format=mpd-time-cmaf)' },
    { name: 'm3u8-cmaf', player: 'shaka', path: 'manifest(format=m3u8-cmaf)' },
    { name: 'm3u8-aapl', player: 'shaka', path: 'manifest(format=m3u8-aapl)' },
    { name: 'smooth', player: 'dash', path: 'manifest' },
].filter((f) => !args.only || args.only.split(',').includes(f.name));

let failed = 0;
const ok = (what) => console.log(`ok - ${what}`);
const notOk = (what, why) => { failed++; console.log(`not ok - ${what}${why ? ': ' + why : ''}`); };
const check = (cond, what, why) => (cond ? ok(what) : notOk(what, why));
const diag = (s) => console.log(`# ${s}`);
const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) =>
    setTimeout(() => rej(new Error(`${what}: no answer after ${ms / 1000} s`)), ms))]);

const profile = mkdtempSync(join(tmpdir(), 'ismfs-e2e-chromium.'));
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--autoplay-policy=no-user-gesture-required'],
        timeout: 60000,
    });
} catch (e) {
    console.log(`not ok - launch ${chromiumPath} through playwright-core: ${String(e.message).split('\n')[0]}`);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
}

async function runFormat(fmt) {
    const tag = `${fmt.name} (${fmt.player === 'shaka' ? 'shaka-player' : 'dash.js MSS'})`;
    const page = await context.newPage();
    const httpErrors = [];
    const requests = [];
    const log = [];   // "STATUS PATH" of every response, for diagnosing a failed phase
    const consoleLines = [];
    // net::ERR_ABORTED is a player cancelling a request (seek, switch, page closed): not an error.
    page.on('requestfailed', (r) => {
        const e = r.failure()?.errorText;
        if (e !== 'net::ERR_ABORTED') httpErrors.push(`${r.url()}: ${e}`);
    });
    page.on('response', (r) => {
        requests.push(r.url());
        log.push(`${r.status()} ${decodeURIComponent(r.url().replace(base, ''))}`);
        if (r.status() >= 400) httpErrors.push(`${r.url()}: HTTP ${r.status()}`);
    });
    page.on('console', (m) => {
        if (process.env.E2E_DEBUG) console.error(`[${fmt.name} ${m.type()}] ${m.text()}`);
        if (m.type() === 'error' || m.type() === 'warning') consoleLines.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleLines.push(`page error: ${e.message}`));
    const deadline = Date.now() + timeoutS * 1000;
    const left = () => Math.max(1000, deadline - Date.now());
    const E = (fn, arg) => withTimeout(page.evaluate(fn, arg), left(), `${tag}`);
    const why = (s) => s + (consoleLines.length ? ` [console: ${consoleLines.slice(-3).join(' | ').slice(0, 600)}]` : '');
    const url = `${base}/${asset}/${withFilter(fmt.path)}`;
    let mark = 0;
    const phase = () => { mark = log.length; };
    const dumpIfFailed = async (r) => {
        if (r.ok) return;
        diag(`${tag}: buffered: ${JSON.stringify(await E(() => window.E2E.buffered()))}`);
        diag(`${tag}: responses during the failed phase (last 15 of ${log.length - mark}):`);
        for (const l of log.slice(mark).slice(-15)) diag(`    ${l}`);
    };
    diag(`${tag}: ${url}`);
    try {
        await page.goto(`${base}/e2e/player.html${process.env.E2E_DEBUG ? '?debug' : ''}`, { timeout: left() });
        if (!(await E(() => window.E2E && window.E2E.ready()))) {
            notOk(`${tag}: player scripts load`, why('shaka or dash.js (MSS) missing on the page'));
            return;
        }
        // load
        try {
            await E(([p, u]) => window.E2E.load(p, u), [fmt.player, url]);
        } catch (e) {
            notOk(`${tag}: loads the manifest`, why(String(e.message).slice(0, 1500) +
                  (httpErrors.length ? `; failed requests: ${httpErrors.slice(0, 5).join(', ')}` : '')));
            return;
        }
        const st0 = await E(() => window.E2E.state());
        check(Math.abs(st0.duration - expDuration) < 0.5, `${tag}: loads the manifest, duration ${expDuration} s`,
              `duration is ${st0.duration}`);

        // renditions
        const rend = await E(() => window.E2E.videoRenditions());
        const hs = [...new Set(rend.map((r) => r.height))].sort((a, b) => b - a);
        const bws = new Set(rend.map((r) => r.bandwidth));
        check(hs.join(',') === [...heights].sort((a, b) => b - a).join(',') && bws.size === heights.length,
              `${tag}: lists the video renditions ${heights.join('/')} with distinct bandwidths`,
              `player lists ${JSON.stringify(rend)}`);
        const langs = await E(() => window.E2E.audioLanguages());
        const hasLang = (l) => langs.some((x) => x === l || String(x).startsWith(l));
        check(hasLang('en') && hasLang('fr'), `${tag}: lists the audio languages en and fr`,
              `player lists ${JSON.stringify(langs)}`);

        // One thing at a time, as a person would: seek (paused) and let the player refill, switch
        // and let it refill again, then play. Switches and seeks in flight together make
        // shaka-player 4.16 stall for good (its segment prefetch then re-requests the same
        // prefetched init segment forever; seen with ffmpeg's DASH output as well), which is
        // not what these checks are about.
        const settle = async (what) => {
            if (!(await E((ms) => window.E2E.settle(ms), 10000)))
                diag(`${tag}: ${what} did not settle in 10 s: ${JSON.stringify(await E(() => window.E2E.buffered()))}`);
        };
        const seekPaused = async (t) => {
            if (!(await E(([x, ms]) => window.E2E.seekPaused(x, ms), [t, 10000])))
                diag(`${tag}: the seek to ${t} s did not settle in 10 s: ${JSON.stringify(await E(() => window.E2E.buffered()))}`);
        };

        // One playback check: r is what E2E.playToEnd returned. It played from FROM to the end
        // of the asset (no further: a longer timeline means media landed at the wrong time),
        // with no jump, showing HEIGHT, and decoded frames beyond FRAMES_BEFORE.
        const playCheck = (r, what, from, height, framesBefore, extra = []) => {
            const bad = [...extra];
            if (!r.ok) bad.push(r.why);
            if (Math.abs(r.from - from) > 0.5) bad.push(`started at ${r.from} s, not ${from} s`);
            if (r.ok && r.reached < expDuration - 0.6) bad.push(`reached only ${r.reached} s`);
            if (r.reached > expDuration + 0.5 || r.maxDuration > expDuration + 0.5)
                bad.push(`timeline longer than the asset: reached ${r.reached} s, duration up to ${r.maxDuration} s`);
            if (r.jumps.length) bad.push(`playhead jumped ${r.jumps.join(', ')}`);
            if (r.rate !== rate) bad.push(`playbackRate ${r.rate}, not ${rate}`);
            if (r.videoHeight !== height) bad.push(`videoHeight ${r.videoHeight}, not ${height}`);
            if (!(r.frames > framesBefore)) bad.push(`decoded frames ${framesBefore} -> ${r.frames}`);
            check(bad.length === 0, `${tag}: ${what}`, why(bad.join('; ')));
        };

        // play from 0 to the end, top rendition
        const hTop = heights[0], hMid = heights[1 % heights.length], hLow = heights[heights.length - 1];
        if (await E((h) => window.E2E.selectHeight(h), hTop)) await settle(`the switch to ${hTop}p`);
        diag(`${tag}: seek range ${JSON.stringify(await E(() => window.E2E.seekRange()))}`);
        // The frame shown where the presentation starts, the frame the source has there.
        const frameCheck = async (what, want) => {
            const g = await E((c) => window.E2E.grab(...c), crop);
            if (!g.luma) { notOk(`${tag}: ${what}`, why(`no frame to copy: ${g.why}`)); return; }
            const id = identify(g.luma);
            diag(`${tag}: ${what}: ${JSON.stringify({ ...id, currentTime: g.currentTime, videoWidth: g.videoWidth })}`);
            check(id.index === want, `${tag}: ${what}`,
                  why(`it shows frame ${id.index} (correlation ${id.score}, next best ${id.second}), ` +
                      `at ${g.currentTime} s, ${g.videoWidth}x${g.videoHeight}`));
        };
        if (frameRef && args['first-frame'] !== undefined) {
            await settle('the start');
            await frameCheck(`at the start, the top rendition shows frame ${args['first-frame']} of the source`,
                             Number(args['first-frame']));
        }
        phase();
        // With --filter, from where the player put the playhead at load, as a viewer pressing
        // play, instead of a seek to 0: a trimmed DASH presentation has a presentationTimeOffset,
        // shaka 4.16 then shifts the media by +1 ms (its nudge of negative timestampOffsets,
        // shaka-player#1281; later versions keep it for legacy Edge only) and a seek to exactly
        // 0 lands in that gap: Chromium freezes the video until the next keyframe (the audio
        // plays on, no error). The later phases seek (to the middle, to 0) as without --filter.
        let r = await E(([f, k, t, n]) => window.E2E.playToEnd(f, k, t, n),
                        filter ? [null, rate, left(), true] : [0, rate, left(), false]);
        await dumpIfFailed(r);
        diag(`${tag}: play 0 -> end at ${hTop}p: ${JSON.stringify(r)}`);
        playCheck(r, `plays ${hTop}p from 0 to the end at rate ${rate}`, 0, hTop, 0);
        diag(`${tag}: ${(r.reached - r.from).toFixed(2)} s of media in ${r.wall.toFixed(2)} s ` +
             `(x${((r.reached - r.from) / r.wall).toFixed(1)}), ${r.frames} frames decoded, ${r.dropped} dropped`);
        check(r.frames >= Math.floor(expFrames * 0.9),
              `${tag}: the video element decoded the frames (>= 90% of ${expFrames})`,
              `totalVideoFrames ${r.frames}`);
        let frames = r.frames;
        if (frameRef && args['last-frame'] !== undefined) {
            // playToEnd stops half a second before the end: the last frame, paused.
            await seekPaused(st0.duration - 0.5 * expDuration / expFrames);
            await frameCheck(`at the end, the top rendition shows frame ${args['last-frame']} of the source`,
                             Number(args['last-frame']));
        }

        // seek to the middle, next rendition
        phase();
        const mid = st0.duration / 2;
        await seekPaused(mid);
        if (await E((h) => window.E2E.selectHeight(h), hMid)) await settle(`the switch to ${hMid}p`);
        r = await E(([f, k, t]) => window.E2E.playToEnd(f, k, t), [null, rate, left()]);
        await dumpIfFailed(r);
        diag(`${tag}: play middle -> end at ${hMid}p: ${JSON.stringify(r)}`);
        playCheck(r, `after seeking to the middle, plays ${hMid}p to the end`, mid, hMid, frames);
        frames = r.frames;

        // audio in French, lowest rendition. The French track's name has "fra" in it (the
        // ladder fixture): its segments must be fetched once French is selected.
        await seekPaused(0);
        const nReq = requests.length;
        phase();
        await E((l) => window.E2E.selectAudio(l), 'fr');
        await settle('the switch to French');
        if (await E((h) => window.E2E.selectHeight(h), hLow)) await settle(`the switch to ${hLow}p`);
        const act = await E(() => window.E2E.active());
        check(act && String(act.language).startsWith('fr'),
              `${tag}: switching the audio language to fr makes the active track French`,
              `active track ${JSON.stringify(act)}`);
        r = await E(([f, k, t]) => window.E2E.playToEnd(f, k, t), [null, rate, left()]);
        await dumpIfFailed(r);
        diag(`${tag}: play 0 -> end in French at ${hLow}p: ${JSON.stringify(r)}`);
        const fra = requests.slice(nReq).filter((u) => /fra/.test(decodeURIComponent(u)));
        playCheck(r, `in French, plays ${hLow}p from 0 to the end`, 0, hLow, frames,
                  fra.length ? [] : ['no French audio was requested']);
        const act2 = await E(() => window.E2E.active());
        diag(`${tag}: active at the end: ${JSON.stringify(act2)}`);

        // The video fragments requested in all of it: exactly the trimmed presentation's.
        if (expFragments) {
            const re = new RegExp(`/Fragments\\(${videoTrack}=(\\d+)[,)]`);
            const times = requests.map((u) => re.exec(decodeURIComponent(u))).filter(Boolean).map((m) => Number(m[1]));
            const got = [...new Set(times)].sort((a, b) => a - b);
            const want = [...expFragments].sort((a, b) => a - b);
            check(times[0] === expFragments[0] && got.join(',') === want.join(','),
                  `${tag}: the player requested the video fragments ${expFragments.join(', ')} ` +
                  `(${videoTrack}), ${expFragments[0]} first, and no other`,
                  `first ${times[0]}, all ${got.join(', ')}`);
        }
    } catch (e) {
        notOk(`${tag}: the page answers`, why(String(e.message).split('\n')[0]));
    } finally {
        const errs = await page.evaluate(() => window.E2E ? window.E2E.errors : []).catch(() => []);
        // What the player logged as an error (shaka's debug build, dash.js) counts too.
        errs.push(...consoleLines.filter((l) => l.startsWith('error: ') &&
                                              !l.includes('Failed to load resource')));
        check(errs.length === 0, `${tag}: no player or media error`, errs.slice(0, 3).join('; ').slice(0, 2000));
        check(httpErrors.length === 0, `${tag}: every HTTP request succeeded`,
              httpErrors.slice(0, 5).join(', '));
        for (const l of consoleLines.slice(0, 10)) diag(`${tag}: console ${l.slice(0, 500)}`);
        await page.close().catch(() => {});
    }
}

try {
    for (const fmt of FORMATS) {
        const t0 = Date.now();
        await runFormat(fmt);
        diag(`${fmt.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
} finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
