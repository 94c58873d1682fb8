// Entity ids arrive as GraphQL ID strings from anyone (clients, other subgraphs' references).
// Anything that is not a well-formed id must resolve to "no such entity", never reach the
// database as a value PostgreSQL would refuse to cast (which would surface as a 500).

/** Largest id a JavaScript number holds exactly; bigint identity columns stay far below it. */
const maxSafeIdDigits = 16;
const numericIdPattern = new RegExp(`^[1-9][0-9]{0,${maxSafeIdDigits - 1}}$`);

/** The number behind a bigint id ("42" -> 42), or null for anything else ("abc", "-1", "007", "1e3"). */
export function parseNumericId(id: string): number | null {
  if (!numericIdPattern.test(id)) return null;
  const value = Number(id);
  return Number.isSafeInteger(value) ? value : null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (id: string): boolean => uuidPattern.test(id);
