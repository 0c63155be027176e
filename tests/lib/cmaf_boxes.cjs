// Box-level checks of one track's CMAF init segment and media fragments, read with mp4box.js
// (GPAC's parser, an implementation we did not write; tests/package.json installs it).
//
//   node tests/lib/cmaf_boxes.cjs LABEL SAMPLE_COUNT INIT FRAGMENT:TIME...
//
// FRAGMENT:TIME are the track's fragment files in presentation order with the TIME of their
// URL. Prints TAP lines ("ok - LABEL: ..." / "not ok - LABEL: ..."); exit 1 when one fails.
// Checks (ISO/IEC 14496-12 8.8, ISO/IEC 23000-19 7.3.2):
//   - init: ftyp and moov, moov/mvex with a trex for the track (what makes it fragmentable);
//   - each fragment: styp? moof mdat, exactly one moof with one traf for the init's track;
//   - mfhd sequence_number of fragment k (from 0) is k + 1;
//   - tfdt of each fragment is its URL TIME (pack/view.h), and tfdt[k+1] == tfdt[k] + the sum of fragment k's
//     sample durations (trun, else tfhd default, else trex default): no gap, no overlap;
//   - the trun sample sizes add up to the mdat payload, and data_offset points at it;
//   - the fragments' sample counts add up to the source track's sample count.
'use strict';
const fs = require('fs');
let MP4Box;
try {
    MP4Box = require('mp4box');
} catch (e) {
    console.log('not ok - mp4box.js is not installed (npm ci --prefix tests; scripts/deps.sh)');
    process.exit(1);
}

const [label, wantSamples, initPath, ...frags] = process.argv.slice(2);
if (!frags.length) {
    console.error('usage: node cmaf_boxes.cjs LABEL SAMPLE_COUNT INIT FRAGMENT:TIME...');
    process.exit(2);
}
let failed = false;
const ok = (m) => console.log(`ok - ${label}: ${m}`);
const notOk = (m) => { console.log(`not ok - ${label}: ${m}`); failed = true; };

function parse(path) {
    const b = fs.readFileSync(path);
    const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
    ab.fileStart = 0;
    const f = MP4Box.createFile();
    const errors = [];
    f.onError = (e) => errors.push(String(e));
    f.appendBuffer(ab);
    f.flush();
    return { f, errors };
}

// ---- init segment
const init = parse(initPath);
const itypes = init.f.boxes.map((x) => x.type);
const trak = init.f.moov && init.f.moov.traks && init.f.moov.traks[0];
const trackId = trak ? trak.tkhd.track_id : undefined;
const trexs = (init.f.moov && init.f.moov.mvex && init.f.moov.mvex.trexs) || [];
const trex = trexs.find((t) => t.track_id === trackId);
if (itypes[0] === 'ftyp' && itypes.includes('moov') && !itypes.includes('moof') && trex &&
    !init.errors.length) {
    ok(`init segment ${itypes.join(' ')} with moov/mvex/trex for track ${trackId}`);
} else {
    notOk(`init segment: boxes [${itypes}], trex for track ${trackId}: ${!!trex}` +
          (init.errors.length ? `, parser: ${init.errors[0]}` : ''));
}

// ---- fragments
const seqBad = [], tfdtBad = [], layoutBad = [];
let total = 0, next = null;
frags.forEach((arg, k) => {
    const at = arg.lastIndexOf(':');
    const path = arg.slice(0, at), urlTime = Number(arg.slice(at + 1));
    const { f, errors } = parse(path);
    const types = f.boxes.map((x) => x.type);
    const moofs = f.moofs || [];
    const moof = moofs[0];
    if (errors.length || moofs.length !== 1 || !moof.trafs || moof.trafs.length !== 1 ||
        types.filter((t) => t === 'mdat').length !== 1 || types[types.length - 1] !== 'mdat') {
        layoutBad.push(`#${k} (${path}): boxes [${types}]` +
                       (errors.length ? ` parser: ${errors[0]}` : ''));
        return;
    }
    const traf = moof.trafs[0], tfhd = traf.tfhd;
    if (tfhd.track_id !== trackId)
        layoutBad.push(`#${k}: tfhd track_ID ${tfhd.track_id}, the init's track is ${trackId}`);
    if (moof.mfhd.sequence_number !== k + 1)
        seqBad.push(`#${k}: mfhd ${moof.mfhd.sequence_number}, want ${k + 1}`);

    // durations and sizes: trun, else tfhd defaults (flags 0x08, 0x10), else trex
    const dDur = (tfhd.flags & 0x08) ? tfhd.default_sample_duration
        : trex ? trex.default_sample_duration : 0;
    const dSize = (tfhd.flags & 0x10) ? tfhd.default_sample_size
        : trex ? trex.default_sample_size : 0;
    let dur = 0, bytes = 0, count = 0;
    for (const trun of traf.truns) {
        for (let i = 0; i < trun.sample_count; i++) {
            dur += (trun.flags & 0x100) ? trun.sample_duration[i] : dDur;
            bytes += (trun.flags & 0x200) ? trun.sample_size[i] : dSize;
        }
        count += trun.sample_count;
    }
    total += count;
    const mdat = f.boxes.find((x) => x.type === 'mdat');
    const payload = mdat.size - mdat.hdr_size;
    if (bytes !== payload)
        layoutBad.push(`#${k}: trun sample sizes add up to ${bytes}, mdat holds ${payload}`);
    // data_offset: from the moof start (default-base-is-moof, CMAF 7.3.2.3) to the first sample
    const trun0 = traf.truns[0];
    if (trun0 && (trun0.flags & 0x1) &&
        moof.start + trun0.data_offset !== mdat.start + mdat.hdr_size)
        layoutBad.push(`#${k}: trun data_offset ${trun0.data_offset} does not point at the mdat` +
                       ' payload');
    if (!traf.tfdt) {
        tfdtBad.push(`#${k}: no tfdt`);
        next = null;
        return;
    }
    const t = Number(traf.tfdt.baseMediaDecodeTime);
    if (next !== null && t !== next)
        tfdtBad.push(`#${k}: tfdt ${t}, the previous fragment ends at ${next}`);
    if (t !== urlTime)
        tfdtBad.push(`#${k}: tfdt ${t}, its URL says ${urlTime}`);
    next = t + dur;
});

const n = frags.length;
if (layoutBad.length)
    notOk(`fragment layout: ${layoutBad.slice(0, 4).join('; ')}`);
else
    ok(`${n} fragments, each one moof (one traf of the track) and one mdat its truns fill`);
if (seqBad.length)
    notOk(`mfhd sequence numbers: ${seqBad.slice(0, 4).join('; ')}`);
else if (!layoutBad.length)
    ok(`mfhd sequence_number of fragment k is k + 1 (1..${n})`);
if (tfdtBad.length)
    notOk(`tfdt continuity: ${tfdtBad.slice(0, 4).join('; ')}`);
else if (!layoutBad.length)
    ok(`tfdt continuous over ${n} fragments (each = previous tfdt + its sample durations;` +
       ' = URL TIME)');
if (total !== Number(wantSamples))
    notOk(`the fragments hold ${total} samples, the source track has ${wantSamples}`);
else
    ok(`the fragments hold the source track's ${total} samples`);
process.exit(failed ? 1 : 0);
