import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A build of an earlier commit in a temporary git worktree outside the repository. */
export interface BeforeBuild {
  ref: string;
  /** The short commit the ref named when it was built. */
  commit: string;
  /** The worktree: run `dist/main` with it as the working directory. */
  dir: string;
  /** Removes the worktree (from git's list too) and its temporary folder. */
  remove(): Promise<void>;
}

/**
 * Checks `ref` out into a temporary worktree, links this checkout's node_modules (so both builds run the same
 * dependencies and nothing is installed) and builds it with the Nest CLI. Bounded: each step has a timeout.
 * Rejects with what failed; the caller skips what needed the build.
 */
export async function buildBefore(root: string, ref: string): Promise<BeforeBuild> {
  const parent = mkdtempSync(join(tmpdir(), 'bench-before-'));
  const dir = join(parent, 'wt');
  const remove = async () => {
    await run('git', ['worktree', 'remove', '--force', dir], { cwd: root, timeout: 60_000 }).catch(
      () => undefined,
    );
    rmSync(parent, { recursive: true, force: true });
    await run('git', ['worktree', 'prune'], { cwd: root, timeout: 60_000 }).catch(() => undefined);
  };
  try {
    const commit = (
      await run('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: root, timeout: 10_000 })
    ).stdout.trim();
    await run('git', ['worktree', 'add', '--detach', dir, commit], { cwd: root, timeout: 60_000 });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await run(join(root, 'node_modules', '.bin', 'nest'), ['build'], {
      cwd: dir,
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ref, commit, dir, remove };
  } catch (err) {
    await remove();
    const e = err as { message?: string; stderr?: string; stdout?: string };
    const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().slice(-1500);
    throw new Error(`${e.message ?? String(err)}${detail === '' ? '' : `\n${detail}`}`);
  }
}
