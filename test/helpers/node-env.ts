/**
 * A LOCAL three-node environment `test` under a directory, as the offline node commands
 * (scripts/) read it with `--env test` run there, and node_1's record store in it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalKms } from '../../src/kms/local.js';
import { RecordStore } from '../../src/node/storage/store.js';

/** A LOCAL three-node environment `test` under `root`, and node_1's store. */
export async function localNodeEnv(root: string): Promise<RecordStore> {
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'COORDINATOR_LOCAL_KMS_PATH=kms',
      'NODE_IDS=node_1,node_2,node_3',
      'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      'DATA_DIR=data',
    ].join('\n'),
  );
  const kms = await openLocalKms({ root: join(root, 'kms'), nodeId: 'node_1' });
  return RecordStore.open({ dir: join(root, 'data', 'node_1', 'records'), nodeId: 'node_1', kms });
}
