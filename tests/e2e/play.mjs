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
//        [--encryption ENC --clear-keys KID:KEY,... [--expect-no-play [WHAT]]]
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
// Options for a protected asset (tests/integration/e2e_drm.sh; shaka-player only):
//   --encryption ENC: plays manifest(format=FMT,encryption=ENC);
//   --clear-keys KID:KEY,... (32 hex digits each): EME ClearKey (org.w3.clearkey, Chromium's
//     built-in CDM) with shaka's drm.clearKeys; checks besides the above: the player runs
//     the key system org.w3.clearkey with MediaKeys on the element, and every KID given is
//     "usable" in its key statuses;
//   --expect-no-play [WHAT] (with a key that is wrong, WHAT says which: "a wrong video key"):
//     the negative. The player loads, fetches the encrypted init and media segments (every
//     request answered: the failure must come from the key, not from a missing file; for
//     AES-128, --encryption cbc without --clear-keys, the key file and an encrypted init:
//     the player decrypts the init section itself, and a wrong key fails it before any
//     media segment need come) and
//     must not play: a player or media error, or the playhead does not get past the first
//     fragment (2.5 s) within 20 s. Nothing else is checked.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    // "--flag" followed by another option (or by nothing) is a switch: true.
    if (a.startsWith('--'))
        acc.push([a.slice(2), i + 1 < all.length && !all[i + 1].startsWith('--') ? all[i + 1] : true]);
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
// A flat image (black: nothing shown, or nothing the page may read) is no frame: index -1.
function identify(luma) {
    if (Math.max(...luma) - Math.min(...luma) < 1) return { index: -1, score: 0, second: 0, flat: luma[0] };
    const v = normalize(luma);
    let best = -1, score = -2, second = -2;
    frameRef.forEach((r, i) => {
        let d = 0;
        for (let k = 0; k < r.length; k++) d += r[k] * v[k];
        if (d > score) { second = score; score = d; best = i; } else if (d > second) second = d;
    });
    return { index: best, score: +score.toFixed(4), second: +second.toFixed(4) };
}
// The pixels of a PNG (what playwright's screenshots are: 8-bit RGB or RGBA, not
// interlaced): {width, height, bpp, px}, px the unfiltered rows (PNG spec, section 9).
function decodePng(buf) {
    let p = 8, width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
    const idat = [];
    while (p + 8 <= buf.length) {
        const len = buf.readUInt32BE(p), type = buf.toString('latin1', p + 4, p + 8);
        const d = buf.subarray(p + 8, p + 8 + len);
        if (type === 'IHDR') {
            width = d.readUInt32BE(0); height = d.readUInt32BE(4);
            depth = d[8]; ctype = d[9]; interlace = d[12];
        } else if (type === 'IDAT') idat.push(d);
        else if (type === 'IEND') break;
        p += 12 + len;
    }
    if (depth !== 8 || (ctype !== 2 && ctype !== 6) || interlace)
        throw new Error(`PNG of bit depth ${depth}, color type ${ctype}, interlace ${interlace}`);
    const bpp = ctype === 6 ? 4 : 3, stride = width * bpp;
    const raw = inflateSync(Buffer.concat(idat)), px = Buffer.alloc(height * stride);
    for (let y = 0; y < height; y++) {
        const f = raw[y * (stride + 1)], row = y * (stride + 1) + 1;
        for (let i = 0; i < stride; i++) {
            const a = i >= bpp ? px[y * stride + i - bpp] : 0, b = y ? px[(y - 1) * stride + i] : 0;
            const c = y && i >= bpp ? px[(y - 1) * stride + i - bpp] : 0;
            let v = raw[row + i];
            if (f === 1) v += a;
            else if (f === 2) v += b;
            else if (f === 3) v += (a + b) >> 1;
            else if (f === 4) {
                const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
                v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            }
            px[y * stride + i] = v & 255;
        }
    }
    return { width, height, bpp, px };
}
const encryption = args.encryption || '';
// {KID hex: key hex}, as shaka's drm.clearKeys takes it
const clearKeys = Object.fromEntries((args['clear-keys'] || '').split(',').filter(Boolean)
    .map((kv) => kv.toLowerCase().replace(/-/g, '').split(':')));
const expectNoPlay = !!args['expect-no-play'];
// HLS AES-128: the player fetches the key from the playlist's key URI (no EME)
const aes128 = encryption === 'cbc' && !args['clear-keys'];
const wrongWhat = typeof args['expect-no-play'] === 'string' ? args['expect-no-play'] : 'a wrong key';
// manifest(OPT=V) or manifest(...,OPT=V)
const withOption = (path, o, v) => (!v ? path : path === 'manifest' ? `manifest(${o}=${v})`
    : path.replace(/\)$/, `,${o}=${v})`));
const withFilter = (path) => withOption(withOption(path, 'filter', filter), 'encryption', encryption);

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
    const drm = Object.keys(clearKeys).length > 0;
    const tag = `${fmt.name}${encryption ? ' ' + encryption : ''} ` +
                `(${fmt.player === 'shaka' ? 'shaka-player' : 'dash.js MSS'}${drm ? ', ClearKey' : ''})`;
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
    // --expect-no-play: LOADERROR is load()'s error, or null when it loaded.
    const noPlay = async (loadError) => {
        let r = null;
        // (an error at load or at the preroll already says it: no need to wait for a stall)
        if (!loadError && !(await E(() => window.E2E.errors.length))) {
            r = await E(([k, t]) => window.E2E.playToEnd(0, k, t), [rate, Math.min(20000, left())]);
            diag(`${tag}: play 0 -> end: ${JSON.stringify(r)}`);
        }
        const errs = await E(() => window.E2E.errors);
        const dec = (u) => decodeURIComponent(u);
        const enc = requests.map(dec).filter((u) => /\/Fragments\(/.test(u) && /encryption=/.test(u));
        const inits = enc.filter((u) => /=i[,)]/.test(u)), media = enc.filter((u) => !/=i[,)]/.test(u));
        const bad = [];
        if (httpErrors.length) bad.push(`failed requests: ${httpErrors.slice(0, 5).join(', ')}`);
        const keyFiles = requests.filter((u) => /\/e2e-keys\//.test(u));
        if (aes128 ? !keyFiles.length || !inits.length : !inits.length || !media.length)
            bad.push(`the player fetched ${inits.length} encrypted init and ${media.length} media ` +
                     `segments${aes128 ? `, ${keyFiles.length} key files` : ''}`);
        const stopped = loadError || errs.length ? 'with an error' : r && !r.ok && r.reached < 2.5
            ? `without progress (the playhead stayed at ${r.reached.toFixed(2)} s)` : '';
        if (!stopped) bad.push(`it played: ${r.ok ? 'to the end' : r.why}, up to ${r.reached.toFixed(2)} s, ` +
                               `${r.frames} frames decoded`);
        check(bad.length === 0, `${tag}: with ${wrongWhat} the player does not play ` +
              `(${stopped || 'it played'})`, why(bad.join('; ')));
        if (stopped === 'with an error') diag(`${tag}: ${(loadError || errs[0]).slice(0, 600)}`);
    };
    diag(`${tag}: ${url}`);
    try {
        await page.goto(`${base}/e2e/player.html${process.env.E2E_DEBUG ? '?debug' : ''}`, { timeout: left() });
        if (!(await E(() => window.E2E && window.E2E.ready()))) {
            notOk(`${tag}: player scripts load`, why('shaka or dash.js (MSS) missing on the page'));
            return;
        }
        if (drm) {
            if (fmt.player !== 'shaka') {
                notOk(`${tag}: plays with ClearKey`, 'play.mjs gives keys to shaka-player only');
                return;
            }
            // player.html makes and configures its shaka.Player itself (E2E.load): the keys
            // go in just before its load(), and window.E2E_DRM keeps that player for the
            // checks below.
            await E((ck) => {
                const load = shaka.Player.prototype.load;
                shaka.Player.prototype.load = function (...a) {
                    this.configure({ drm: { clearKeys: ck } });
                    window.E2E_DRM = { player: this };
                    return load.apply(this, a);
                };
            }, clearKeys);
        }
        // load
        let loadError = null;
        try {
            await E(([p, u]) => window.E2E.load(p, u), [fmt.player, url]);
        } catch (e) {
            loadError = String(e.message).slice(0, 1500);
            if (!expectNoPlay) {
                notOk(`${tag}: loads the manifest`, why(loadError +
                      (httpErrors.length ? `; failed requests: ${httpErrors.slice(0, 5).join(', ')}` : '')));
                return;
            }
        }
        if (drm) {
            // The CDM's key statuses come once the session has the licence (shaka makes it
            // from drm.clearKeys in the page, no request): wait for them a little.
            const d = await E(async (ms) => {
                const pl = window.E2E_DRM && window.E2E_DRM.player;
                if (!pl) return { why: 'the keys were not given to the player (no load)' };
                let ks = {};
                for (const t0 = performance.now(); performance.now() - t0 < ms;) {
                    ks = pl.getKeyStatuses();
                    if (Object.keys(ks).length) break;
                    await new Promise((r) => setTimeout(r, 100));
                }
                return { keySystem: pl.keySystem(), mediaKeys: !!window.E2E.video.mediaKeys, statuses: ks };
            }, loadError ? 1000 : 10000);
            diag(`${tag}: EME: ${JSON.stringify(d)}`);
            if (!expectNoPlay) {
                const bad = d.why ? [d.why] : [];
                if (d.keySystem !== 'org.w3.clearkey') bad.push(`key system ${JSON.stringify(d.keySystem)}`);
                if (!d.mediaKeys) bad.push('no MediaKeys on the video element');
                for (const kid of Object.keys(clearKeys))
                    if (d.statuses && d.statuses[kid] !== 'usable')
                        bad.push(`KID ${kid}: ${d.statuses[kid] || 'no status'}`);
                check(bad.length === 0, `${tag}: EME org.w3.clearkey on the element, ` +
                      `the KID${Object.keys(clearKeys).length > 1 ? 's' : ''} usable`, why(bad.join('; ')));
            }
        }
        if (expectNoPlay) {
            await noPlay(loadError);
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
        // The region X,Y,W,H of the frame shown, as E2E.grab gives it, from a screenshot of
        // the element: Chromium lets no page read the frames of an EME video, even ClearKey
        // (drawImage leaves the canvas all zeros, createImageBitmap and new VideoFrame throw
        // InvalidStateError), but the compositor shows them: the screenshot is what the
        // viewer sees.
        const grabScreen = async ([x, y, w, h]) => {
            const st = await E(() => window.E2E.state());
            if (st.readyState < 2) return { why: `readyState ${st.readyState}` };
            const dim = await E(() => [window.E2E.video.videoWidth, window.E2E.video.videoHeight]);
            const img = decodePng(await page.locator('#video').screenshot({ timeout: left() }));
            // the element letterboxes the video (object-fit: contain), centred
            const sc = Math.min(img.width / dim[0], img.height / dim[1]);
            const ox = (img.width - dim[0] * sc) / 2, oy = (img.height - dim[1] * sc) / 2;
            const luma = new Array(w * h);
            for (let j = 0; j < h; j++) {
                for (let i = 0; i < w; i++) {
                    const px = Math.min(img.width - 1, Math.floor(ox + (x + i + 0.5) * sc));
                    const py = Math.min(img.height - 1, Math.floor(oy + (y + j + 0.5) * sc));
                    const o = (py * img.width + px) * img.bpp;
                    luma[j * w + i] = 0.299 * img.px[o] + 0.587 * img.px[o + 1] + 0.114 * img.px[o + 2];
                }
            }
            return { luma, currentTime: st.currentTime, videoWidth: dim[0], videoHeight: dim[1] };
        };
        // The frame shown where the presentation starts, the frame the source has there.
        const frameCheck = async (what, want) => {
            const g = drm ? await grabScreen(crop) : await E((c) => window.E2E.grab(...c), crop);
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
            // playToEnd stops half a second before the end: the last frame, paused. The
            // screenshot (drm) shows what the compositor shows, and after a paused seek past
            // the video's last frame (the element's duration is the longer audio's, 21 ms more
            // in the ladder) Chromium's compositor keeps the frame shown before the seek: seek
            // within the last frame of the video (--duration) then.
            const end = drm ? Math.min(st0.duration, expDuration) : st0.duration;
            await seekPaused(end - 0.5 * expDuration / expFrames);
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
        if (!expectNoPlay) {
            check(errs.length === 0, `${tag}: no player or media error`, errs.slice(0, 3).join('; ').slice(0, 2000));
            check(httpErrors.length === 0, `${tag}: every HTTP request succeeded`,
                  httpErrors.slice(0, 5).join(', '));
        }
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
