// In-memory storage adapter for oidc-provider, shared by every Provider instance built in
// this process, so sessions, grants and refresh tokens survive a Provider rebuild (key
// rotation). Unlike the library's built-in development adapter it is not capped at 1,000
// entries; expired entries are dropped lazily on read and by a periodic sweep.

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

export class MapStore {
  constructor() {
    this.entries = new Map(); // key -> { value, expiresAt (ms epoch or Infinity) }
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, expiresInSeconds) {
    const expiresAt = typeof expiresInSeconds === 'number'
      ? Date.now() + expiresInSeconds * 1000
      : Infinity;
    this.entries.set(key, { value, expiresAt });
  }

  delete(key) {
    this.entries.delete(key);
  }

  sweep() {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}

// Returns the `adapter` factory for the Provider configuration.
export function mapAdapterFactory(store) {
  return (model) => new MapAdapter(model, store);
}

class MapAdapter {
  constructor(model, store) {
    this.model = model;
    this.store = store;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    this.store.set(key, payload, expiresIn);
    if (this.model === 'Session' && payload.uid) {
      this.store.set(`sessionUid:${payload.uid}`, id, expiresIn);
    }
    if (payload.userCode) {
      this.store.set(`userCode:${payload.userCode}`, id, expiresIn);
    }
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = this.store.get(grantKey) ?? new Set();
      members.add(key);
      this.store.set(grantKey, members); // pruned lazily by revokeByGrantId / misses
    }
  }

  async find(id) {
    return this.store.get(this.key(id));
  }

  async findByUid(uid) {
    const id = this.store.get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = this.store.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = this.store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const key of this.store.get(grantKey) ?? []) {
      this.store.delete(key);
    }
    this.store.delete(grantKey);
  }
}
