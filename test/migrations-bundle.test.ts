import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.bundle.ts';
import { loadMigrations } from '../src/store/migrations.node.ts';

describe('the Worker migrations bundle', () => {
  it('holds exactly the .sql files (run npm run migrations:bundle after adding one)', () => {
    expect(MIGRATIONS).toEqual(loadMigrations());
  });
});
