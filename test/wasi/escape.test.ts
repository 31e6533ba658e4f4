/**
 * Sandbox-escape attacks, each run as a real C guest against a writable preopen (/box) and a
 * read-only one (/ro) that sit next to an "outside" directory holding a secret. Every test checks
 * the guest's own report of each attempt AND a before/after snapshot of the host tree.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ERRNO } from '../../src/wasi/errno.ts';
import { boxAndRo, diffSnapshots, makeTree, parseReport, runGuest, SECRET, snapshot, type NodeState, type RunResult, type Tree } from './helpers.ts';

const err = (n: number): string => `err:${n}`;
const PERM = err(ERRNO.PERM);

let tree: Tree;
let before: { outside: Map<string, NodeState>; ro: Map<string, NodeState>; box: Map<string, NodeState> };

beforeEach(() => {
  tree = makeTree();
  before = { outside: snapshot(tree.outside), ro: snapshot(tree.ro), box: snapshot(tree.box) };
});

afterEach(() => tree.cleanup());

function run(name: string, options: Parameters<typeof runGuest>[1] = {}): { r: RunResult; report: Map<string, string[]> } {
  const r = runGuest(name, { ...options, capabilities: { filesystem: boxAndRo(tree), args: [tree.root], ...options.capabilities } });
  assert.equal(r.code, 0, `guest exited ${r.code}: ${r.stderr}`);
  assert.ok(!r.stdout.includes(SECRET), `outside data leaked into the guest:\n${r.stdout}`);
  return { r, report: parseReport(r.stdout) };
}

/** Asserts the first result of every listed label. */
function expectResults(report: Map<string, string[]>, expected: Record<string, string>): void {
  for (const [label, want] of Object.entries(expected)) {
    assert.equal(report.get(label)?.[0], want, `${label}: expected ${want}, got ${report.get(label)?.join(', ') ?? '(missing)'}`);
  }
}

/** Every attack label (anything but control.*) must have been refused. */
function expectAllAttacksRefused(report: Map<string, string[]>): void {
  let attacks = 0;
  for (const [label, results] of report) {
    if (label.startsWith('control.') || label.endsWith('.control') || label.includes('.control_')) continue;
    if (!/^err:|^ok$/.test(results[0])) continue;
    attacks++;
    assert.match(results[0], /^err:\d+$/, `${label} was allowed: ${results.join(', ')}`);
  }
  assert.ok(attacks > 0, 'the guest reported no attempts');
}

function expectOutsideAndRoUntouched(): void {
  assert.deepEqual(diffSnapshots(before.outside, snapshot(tree.outside)), [], 'outside the grant changed');
  assert.deepEqual(diffSnapshots(before.ro, snapshot(tree.ro)), [], 'read-only preopen changed');
}

function expectBoxUntouched(): void {
  assert.deepEqual(diffSnapshots(before.box, snapshot(tree.box)), [], 'writable preopen changed');
}

/** The same expectation for a probe run against both preopens. */
function both(names: string[], value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ['box', 'ro']) for (const n of names) out[`${p}.${n}`] = value;
  return out;
}

describe('absolute paths', () => {
  it('are refused with EPERM on both preopens and reported', () => {
    const { r, report } = run('escape_absolute');
    expectResults(report, {
      'control.box_read': 'ok',
      ...both(['read_etc_passwd', 'read_host_abs', 'stat_host_abs', 'list_root', 'read_guest_abs'], PERM),
      'box.unlink_host_abs': PERM,
      'box.create_host_abs': PERM,
      'box.mkdir_host_abs': PERM,
    });
    // On the read-only preopen the mutation is refused even before the path is looked at.
    for (const l of ['ro.unlink_host_abs', 'ro.create_host_abs', 'ro.mkdir_host_abs']) assert.match(report.get(l)![0], /^err:(63|76)$/);
    expectAllAttacksRefused(report);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
    assert.ok(r.violations.some((v) => v.capability === 'filesystem' && v.detail.includes('absolute path')));
  });
});

describe('.. past the preopen root', () => {
  it('is refused however it is spelled, for reads and every mutation', () => {
    const { r, report } = run('escape_dotdot');
    expectResults(report, {
      ...both(['read_parent_secret', 'read_sub_parent_parent', 'read_dot_dot_dot', 'list_parent', 'list_sub_up_up', 'stat_parent', 'read_up_and_back'], PERM),
      ...both(['create_parent', 'trunc_parent_secret', 'mkdir_parent', 'unlink_parent_secret', 'rmdir_parent_subdir', 'rename_out', 'rename_in', 'link_in', 'symlink_at_parent'], PERM),
      'box.control_inside_dotdot': 'ok',
      'ro.control_inside_dotdot': 'ok',
    });
    expectAllAttacksRefused(report);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
    assert.ok(r.violations.length >= 20);
  });
});

describe('names other hosts read specially', () => {
  it('refuses backslashes and colons in every path and symlink target with EINVAL, on both preopens', () => {
    const { r, report } = run('escape_special_chars');
    const INVAL = err(ERRNO.INVAL);
    const mutations = ['create_backslash', 'create_colon', 'mkdir_backslash', 'symlink_backslash_target', 'symlink_colon_target', 'rename_to_colon'];
    expectResults(report, {
      ...both(['read_backslash_up', 'read_backslash_name', 'read_drive', 'read_stream'], INVAL),
      ...Object.fromEntries(mutations.map((m) => [`box.${m}`, INVAL])),
      // The read-only preopen's permissions are checked before any path is looked at.
      ...Object.fromEntries(mutations.map((m) => [`ro.${m}`, PERM])),
      'box.control_plain': 'ok',
      'ro.control_plain': 'ok',
    });
    expectAllAttacksRefused(report);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
    // A malformed name is the guest's error, not an attempt on the grant: only the read-only refusals are reported.
    assert.equal(r.violations.length, mutations.length);
  });
});

describe('pre-existing symlinks pointing outside', () => {
  it('are never followed out, for files and directories, relative and absolute', () => {
    const { report } = run('escape_symlink_existing');
    expectResults(report, {
      ...both(['read_file_link', 'read_abs_file_link', 'stat_follow_file_link', 'stat_follow_abs_file_link', 'list_dir_link', 'list_abs_dir_link', 'write_file_link', 'trunc_file_link', 'utimes_follow_file_link', 'link_follow_file_link'], PERM),
      // Not following is fine: it inspects the link itself, which is inside.
      'box.stat_nofollow_file_link': 'ok',
      'ro.stat_nofollow_file_link': 'ok',
      'box.read_nofollow_file_link': err(ERRNO.LOOP),
      'ro.read_nofollow_file_link': err(ERRNO.LOOP),
      'box.control_inside_link': 'ok',
      'ro.control_inside_link': 'ok',
      'libc.fopen_file_link': PERM,
    });
    assert.deepEqual(report.get('box.control_inside_link'), ['ok', 'read:box data']);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
  });
});

describe('a symlinked directory used as a path component', () => {
  it('cannot reach outside (box/dir_link/outside/secret.txt with dir_link -> ..)', () => {
    const { report } = run('escape_symlink_component');
    expectResults(report, {
      ...both([
        'read_via_dir_link', 'read_via_dir_link_nofollow', 'read_via_abs_dir_link', 'stat_via_dir_link', 'list_via_dir_link',
        'create_via_dir_link', 'create_via_abs_dir_link', 'mkdir_via_dir_link', 'unlink_via_dir_link', 'rename_via_dir_link',
        'symlink_via_dir_link', 'read_via_dir_link_back_inside',
      ], PERM),
      'box.control_via_sub_link': 'ok',
      'ro.control_via_sub_link': 'ok',
      'libc.fopen_via_dir_link': PERM,
    });
    expectAllAttacksRefused(report);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
  });
});

describe('trailing slashes on paths and symlinks (GHSA-vqjp-4c8c-hfgg)', () => {
  it('follow symlinks only within the preopen and keep file/dir semantics', () => {
    const { report } = run('escape_trailing_slash');
    expectResults(report, {
      ...both(['list_dir_link_slash', 'list_dir_link_slash_dot', 'list_abs_dir_link_slash', 'stat_dir_link_slash', 'stat_abs_dir_link_slash', 'read_file_link_slash', 'mkdir_in_dir_link_slash', 'mkdir_abs_dir_link_slash', 'rmdir_abs_dir_link_slash_subdir', 'utimes_dir_link_slash', 'utimes_abs_dir_link_slash', 'create_escape_create_slash'], PERM),
      ...both(['read_file_slash'], err(ERRNO.NOTDIR)),
      // Removing or renaming the link itself with a trailing slash: it is not a directory.
      'box.rmdir_dir_link_slash': err(ERRNO.NOTDIR),
      'box.unlink_dir_link_slash': err(ERRNO.NOTDIR),
      'box.rename_dir_link_slash': err(ERRNO.NOTDIR),
      'box.symlink_slash': err(ERRNO.NOENT),
      'box.control_sub_link_slash': 'ok',
      'ro.control_sub_link_slash': 'ok',
    });
    assert.deepEqual(report.get('box.control_sub_link_slash'), ['ok', 'entry:.', 'entry:..', 'entry:inner.txt']);
    expectAllAttacksRefused(report);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
  });
});

describe('read-only preopen (GHSA-2r75-cxrj-cmph)', () => {
  it('refuses every mutation with EPERM and hands out no write rights', () => {
    const { r, report } = run('readonly_write');
    const refused: Record<string, string> = {};
    for (const [label, results] of report) if (/^(libc|raw)\./.test(label) && /^(ok|err:)/.test(results[0])) refused[label] = PERM;
    refused['raw.set_rights_grow'] = err(ERRNO.NOTCAPABLE); // rights can only be dropped
    refused['libc.posix_fallocate'] = PERM;
    expectResults(report, refused);
    expectResults(report, {
      'control.open_rdonly': 'ok',
      'control.read': 'ok',
      'raw.rdonly_rights_have_write': '0',
      'raw.preopen_base_has_create': '0',
      'raw.preopen_inheriting_has_write': '0',
    });
    assert.ok(Object.keys(refused).length >= 35, `only ${Object.keys(refused).length} attempts reported`);
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
    assert.ok(r.violations.every((v) => v.capability === 'filesystem'));
    assert.ok(r.violations.some((v) => v.detail.includes("'/ro' is read-only")));
  });
});

describe('read-only file linked or renamed into the writable preopen (GHSA-4ch3-9j33-3pmj)', () => {
  it('is refused in both directions, so the file can never be written', () => {
    const { report } = run('readonly_link_rename');
    expectResults(report, {
      'raw.link_ro_to_box': PERM,
      'raw.write_linked': err(ERRNO.NOENT),
      'raw.rename_ro_to_box': PERM,
      'raw.write_moved': err(ERRNO.NOENT),
      'raw.link_ro_sub_to_box': PERM,
      'raw.rename_ro_dir_to_box': PERM,
      'libc.link': PERM,
      'libc.rename': PERM,
      'raw.link_box_to_ro': PERM,
      'raw.rename_box_to_ro': PERM,
      'control.link_within_box': 'ok',
      'control.rename_within_box': 'ok',
    });
    expectOutsideAndRoUntouched();
    const diffs = diffSnapshots(before.box, snapshot(tree.box));
    // Only the control's effects: the directory itself, data.txt gaining a link, box_renamed.txt.
    assert.deepEqual(diffs.map((d) => d.split(':')[0]).sort(), ['added box_renamed.txt', 'changed .', 'changed data.txt']);
  });
});

describe('symlink to outside followed with O_CREAT + write (CVE-2024-38358)', () => {
  it('creates nothing outside', () => {
    const { report } = run('symlink_creat_write');
    expectResults(report, {
      'raw.creat_follow_rel': PERM,
      'raw.creat_follow_abs': PERM,
      'raw.creat_nofollow_rel': err(ERRNO.LOOP),
      'raw.creat_excl_rel': err(ERRNO.EXIST),
      'raw.creat_trunc_existing_target': PERM,
      'libc.fopen_w_rel': PERM,
      'libc.fopen_a_abs': PERM,
      'libc.open_creat_rel': PERM,
      'control.creat_inside_dangling': 'ok',
    });
    assert.equal(existsSync(join(tree.outside, 'created.txt')), false);
    assert.equal(existsSync(join(tree.outside, 'created_abs.txt')), false);
    expectOutsideAndRoUntouched();
    const diffs = diffSnapshots(before.box, snapshot(tree.box));
    assert.deepEqual(diffs.map((d) => d.split(':')[0]).sort(), ['added sub/created_inside.txt', 'changed sub']);
  });
});

describe('guest-created symlinks to outside', () => {
  it('cannot be created, and nothing the guest creates can be followed out', () => {
    const { report } = run('symlink_create_follow');
    expectResults(report, {
      'make.rel_file': PERM,
      'make.abs_file': PERM,
      'make.etc': PERM,
      'make.rel_dir': PERM,
      'make.deep_rel': PERM,
      'make.sub_escape': PERM,
      'make.two_step_a': 'ok',
      'make.two_step_b': PERM,
      'follow.rel_file': err(ERRNO.NOENT),
      'follow.abs_file': err(ERRNO.NOENT),
      'follow.etc': err(ERRNO.NOENT),
      'follow.rel_dir_component': err(ERRNO.NOENT),
      'follow.two_step': err(ERRNO.NOENT),
      'control.make_inside': 'ok',
      'control.follow_inside': 'ok',
      'control.make_sub_up': 'ok',
      'control.follow_sub_up': 'ok',
    });
    assert.deepEqual(report.get('control.follow_sub_up'), ['ok', 'read:box data']);
    expectOutsideAndRoUntouched();
  });
});

describe('symlink loops', () => {
  it('end in ELOOP after a bounded number of links, without hanging', () => {
    const started = performance.now();
    const { report } = run('symlink_loop');
    assert.ok(performance.now() - started < 5000);
    expectResults(report, {
      'make.self': 'ok',
      'open.self': err(ERRNO.LOOP),
      'open.a': err(ERRNO.LOOP),
      'stat.a': err(ERRNO.LOOP),
      'open.component': err(ERRNO.LOOP),
      'open.dirloop': err(ERRNO.LOOP),
      'creat.a': err(ERRNO.LOOP),
      'list.a_slash': err(ERRNO.LOOP),
      'open.chain60': err(ERRNO.LOOP),
      'control.chain_short': 'ok',
      'control.stat_nofollow_loop': 'ok',
      'control.unlink_loop': 'ok',
    });
    expectOutsideAndRoUntouched();
  });
});

describe('over-long paths', () => {
  it('fail with ENAMETOOLONG; deep legal paths still work', () => {
    const { report } = run('long_path');
    expectResults(report, {
      'open.name300': err(ERRNO.NAMETOOLONG),
      'mkdir.name300': err(ERRNO.NAMETOOLONG),
      'open.path6000': err(ERRNO.NAMETOOLONG),
      'mkdir.path6000': err(ERRNO.NAMETOOLONG),
      'open.dots64k': err(ERRNO.NAMETOOLONG),
      'control.mkdir_deep100': 'ok',
      'control.create_deep100': 'ok',
    });
    expectOutsideAndRoUntouched();
  });
});

describe('no preopens (wasmer #4267)', () => {
  it('a guest granted no filesystem sees no directory at all, not the current one', () => {
    const r = runGuest('no_preopen', { capabilities: { filesystem: [] } });
    assert.equal(r.code, 0);
    const report = parseReport(r.stdout);
    expectResults(report, {
      preopens: '0',
      open_fds: '3',
      'raw.open_fd3_dot': err(ERRNO.BADF),
      'raw.open_fd3_file': err(ERRNO.BADF),
      'libc.fopen_relative': err(ERRNO.NOTCAPABLE),
      'libc.fopen_etc': err(ERRNO.NOTCAPABLE),
      'libc.fopen_create': err(ERRNO.NOTCAPABLE),
    });
    expectOutsideAndRoUntouched();
    expectBoxUntouched();
  });
});

describe('descriptor exhaustion', () => {
  it('gives EMFILE exactly at io.maxFileDescriptors (stdio and preopens count)', () => {
    const { report, r } = run('fd_exhaustion', { limits: { io: { maxFileDescriptors: 16 } } });
    expectResults(report, {
      opened: String(16 - 3 - 2),
      exhausted: err(ERRNO.MFILE),
      close_one: 'ok',
      reopen_after_close: 'ok',
      again_full: err(ERRNO.MFILE),
    });
    assert.equal(r.host.metrics().openFileDescriptors, 0, 'close() released everything');
  });
});
