import type { User } from './api.ts';

/** Who is signed in, as far as this page knows (the cookie itself is HttpOnly). */
let user: User | null = null;

export function signedInUser(): User | null {
  return user;
}

export function setSignedInUser(next: User | null): void {
  user = next;
}
