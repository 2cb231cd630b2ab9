import type { Action } from "./events";
import { reduce } from "./reducer";
import { initialState, type ChatState } from "./state";

export type Listener = (state: ChatState, action: Action) => void;

/** Holds the state, applies actions through the pure reducer, and notifies subscribers. */
export class Store {
  private current: ChatState;
  private listeners = new Set<Listener>();

  constructor(state: ChatState = initialState()) {
    this.current = state;
  }

  get state(): ChatState {
    return this.current;
  }

  dispatch(action: Action): void {
    const next = reduce(this.current, action);
    if (next === this.current) return;
    this.current = next;
    for (const fn of this.listeners) fn(next, action);
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
