import argon2 from 'argon2';

// argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1): memory-hard, so GPU
// guessing is expensive, yet ~25 ms per hash on this machine's class of CPU.
const hashOptions = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, hashOptions);

export const verifyPassword = (hash: string, password: string): Promise<boolean> => argon2.verify(hash, password);

// Verifying against this when the username is unknown makes both failures take the same time,
// so response timing does not reveal which usernames exist.
let dummyHash: Promise<string> | undefined;
export async function spendVerificationTime(password: string): Promise<void> {
  dummyHash ??= hashPassword('timing-equaliser-not-a-real-password');
  await verifyPassword(await dummyHash, password);
}
