// Plays the encrypted Smooth manifests of an ismfs mount (served by nginx) in headless Chromium
// with dash.js 4 + MSS and EME ClearKey (tests/e2e/smooth_drm.html says how the ClearKey part
// joins dash.js's PlayReady-only Smooth signalling). Prints TAP lines; exits 1 when one failed.
// tests/integration/e2e_smooth_drm.sh sets up the mount and nginx and calls this.
//
//   node tests/e2e/play_smooth_drm.mjs --base http://127.0.0.1:PORT --asset ladder/ladder.ism \
//        --kid UUID --key HEX --wrong-key HEX --duration 10 --frames 240 [--enc cenc,piff]
//        [--rate 4] [--timeout 90] [--chromium /usr/bin/chromium]
//   E2E_DEBUG=1: the page's console on stderr.
//
// For each encryption (manifest(encryption=ENC)), in a page of its own:
//   - with the key: dash.js selects org.w3.clearkey and MediaKeys are set on the element; the
//     KID dash.js read from the ProtectionHeader (cenc:default_KID of the PlayReady entry) and
//     the KID the CDM's licence request names are both --kid; the video plays from 0 to the end
//     at --rate with at least 90% of --frames decoded, no player or media error, no failed
//     request, and the fragments it fetched are the Fragments(...,encryption=ENC) names;
//   - with --wrong-key for the same KID: it does not play through (an error or no progress).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
}, []));
const base = args.base;
const asset = args.asset || 'ladder/ladder.ism';
const kid = (args.kid || '').replace(/-/g, '').toLowerCase();
const key = (args.key || '').toLowerCase();
const wrongKey = (args['wrong-key'] || '').toLowerCase();
const encs = (args.enc || 'cenc,piff').split(',');
const expDuration = Number(args.duration || 10);
const expFrames = Number(args.frames || 0);
const rate = Number(args.rate || 4);
const timeoutS = Number(args.timeout || 90);
const chromiumPath = args.chromium || '/usr/bin/chromium';
let failed = 0;
const ok = (what) => console.log(`ok - ${what}`);
const notOk = (what, why) => { failed++; console.log(`not ok - ${what}${why ? ': ' + why : ''}`); };
const check = (cond, what, why) => (cond ? ok(what) : notOk(what, why));
const diag = (s) => console.log(`# ${s}`);
if (!base || kid.length !== 32 || key.length !== 32 || wrongKey.length !== 32) {
    notOk('play_smooth_drm.mjs: --base, --kid, --key and --wrong-key are required');
    process.exit(1);
}

const profile = mkdtempSync(join(tmpdir(), 'ismfs-e2e-smooth.'));
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

async function run(enc, k, expectPlay) {
    const tag = `smooth ${enc} (dash.js MSS, ClearKey${expectPlay ? '' : ', wrong key'})`;
    const page = await context.newPage();
    const httpErrors = [], fragments = [], consoleLines = [];
    page.on('requestfailed', (r) => {
        const e = r.failure()?.errorText;
        if (e !== 'net::ERR_ABORTED') httpErrors.push(`${r.url()}: ${e}`);
    });
    page.on('response', (r) => {
        const u = decodeURIComponent(r.url());
        if (/\/Fragments\(/.test(u)) fragments.push(u.slice(u.lastIndexOf('/') + 1));
        if (r.status() >= 400) httpErrors.push(`${u}: HTTP ${r.status()}`);
    });
    page.on('console', (m) => {
        if (process.env.E2E_DEBUG) console.error(`[${enc} ${m.type()}] ${m.text()}`);
        if (m.type() === 'error') consoleLines.push(m.text());
    });
    page.on('pageerror', (e) => consoleLines.push(`page error: ${e.message}`));
    try {
        await page.goto(`${base}/e2e/smooth_drm.html`, { timeout: 30000 });
        if (!(await page.evaluate(() => window.T && window.T.ready()))) {
            notOk(`${tag}: dash.js and its MSS module load`);
            return;
        }
        const url = `${base}/${asset}/manifest(encryption=${enc})`;
        diag(`${tag}: ${url}`);
        const limit = (expectPlay ? timeoutS : 30) * 1000;
        const r = await Promise.race([
            page.evaluate(([u, ck, rt, ms]) => window.T.play(u, ck, rt, ms), [url, { [kid]: k }, rate, limit]),
            new Promise((_, rej) => setTimeout(() => rej(new Error('no answer')), limit + 20000)),
        ]);
        const t = await page.evaluate(() => ({ errors: window.T.errors, headerKids: window.T.headerKids,
                                               licenceKids: window.T.licenceKids }));
        diag(`${tag}: ${JSON.stringify(r)}; header KIDs ${[...new Set(t.headerKids)]}; ` +
             `licence KIDs ${[...new Set(t.licenceKids)]}`);
        if (!expectPlay) {
            const stopped = !r.ok || r.reached < expDuration - 1;
            check(stopped, `${tag}: does not play through`, `played to ${r.reached} s`);
            if (t.errors.length) diag(`${tag}: ${t.errors[0].slice(0, 300)}`);
            return;
        }
        check(r.keySystem === 'org.w3.clearkey' && r.mediaKeys,
              `${tag}: EME org.w3.clearkey selected, MediaKeys on the element`,
              `key system ${r.keySystem}, mediaKeys ${r.mediaKeys}`);
        const hk = [...new Set(t.headerKids)], lk = [...new Set(t.licenceKids)];
        check(hk.length === 1 && hk[0] === kid,
              `${tag}: the KID dash.js reads from the ProtectionHeader is the CPIX KID`, `${hk}`);
        check(lk.length === 1 && lk[0] === kid, `${tag}: the licence request names that KID`, `${lk}`);
        check(r.ok && Math.abs(r.duration - expDuration) < 0.5,
              `${tag}: plays from 0 to the end (${expDuration} s) at rate ${rate}`,
              `${r.why}, reached ${r.reached} of ${r.duration} s` +
              (t.errors.length ? `; ${t.errors[0].slice(0, 400)}` : '') +
              (consoleLines.length ? ` [console: ${consoleLines.slice(-2).join(' | ').slice(0, 300)}]` : ''));
        check(!expFrames || r.frames >= 0.9 * expFrames, `${tag}: decodes at least 90% of ${expFrames} frames`,
              `${r.frames} frames`);
        check(!t.errors.length && !httpErrors.length, `${tag}: no player, media or HTTP error`,
              `${t.errors.concat(httpErrors).slice(0, 3).join('; ').slice(0, 500)}`);
        const wrong = fragments.filter((f) => !f.endsWith(`,encryption=${enc})`));
        check(fragments.length > 0 && !wrong.length,
              `${tag}: fetched ${fragments.length} fragments, all Fragments(...,encryption=${enc})`,
              `${wrong.slice(0, 3)}`);
    } catch (e) {
        notOk(`${tag}: runs`, String(e.message).slice(0, 400));
    } finally {
        await page.close();
    }
}

try {
    for (const enc of encs) {
        await run(enc, key, true);
        await run(enc, wrongKey, false);
    }
} finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
