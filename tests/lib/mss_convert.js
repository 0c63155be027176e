// Rewrites Smooth Streaming fragments the way dash.js 4's MSS support does before
// appending them to MSE (MssFragmentMoofProcessor.convertFragment, clear content):
// tfdt added from the manifest time when absent, tfxd removed, tfhd switched to
// default-base-is-moof, trun data_offset recomputed. The result, behind a CMAF init
// segment, is what the browser decodes; ffmpeg stands in for the browser.
//
//   node tests/lib/mss_convert.js TIMESCALE OUT FRAGMENT:TIME...
//
// Needs codem-isoboxer (the box library dash.js uses): NODE_PATH=.../node_modules.
'use strict';
const ISOBoxer = require('codem-isoboxer');
const fs = require('fs');

const TFXD = [0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6,
              0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2];

// dash.js registers this processor for 'uuid' boxes (MS-SSTR 2.2.4.4).
ISOBoxer.addBoxProcessor('uuid', function () {
    const u = this.usertype;
    if (u && u.length === 16 && TFXD.every((v, i) => v === u[i])) {
        this._procFullBox();
        if (this._parsing)
            this.type = 'tfxd';
        this._procField('fragment_absolute_time', 'uint', this.version === 1 ? 64 : 32);
        this._procField('fragment_duration', 'uint', this.version === 1 ? 64 : 32);
    }
});

const timescale = Number(process.argv[2]);
const out = [];
for (const arg of process.argv.slice(4)) {
    const at = arg.lastIndexOf(':');
    const path = arg.slice(0, at), time = Number(arg.slice(at + 1));
    const buf = fs.readFileSync(path);
    const iso = ISOBoxer.parseBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    const tfhd = iso.fetch('tfhd'), traf = iso.fetch('traf'), trun = iso.fetch('trun');
    const tfxd = iso.fetch('tfxd');
    if (!tfhd || !trun || !tfxd) {
        console.error(`${path}: tfhd, trun or tfxd missing`);
        process.exit(1);
    }
    if (tfxd.fragment_absolute_time !== time) {
        console.error(`${path}: tfxd time ${tfxd.fragment_absolute_time}, manifest says ${time}`);
        process.exit(1);
    }
    tfhd.track_ID = 1;
    let tfdt = iso.fetch('tfdt');
    if (tfdt === null) {
        tfdt = ISOBoxer.createFullBox('tfdt', traf, tfhd);
        tfdt.version = 1;
        tfdt.flags = 0;
        tfdt.baseMediaDecodeTime = Math.floor((time / timescale) * timescale);
    }
    tfxd._parent.boxes.splice(tfxd._parent.boxes.indexOf(tfxd), 1);
    tfhd.flags &= 0xfffffe;
    tfhd.flags |= 0x020000;
    trun.flags |= 0x000001;
    trun.data_offset = iso.fetch('moof').getLength() + 8;
    out.push(Buffer.from(iso.write()));
}
fs.writeFileSync(process.argv[3], Buffer.concat(out));
