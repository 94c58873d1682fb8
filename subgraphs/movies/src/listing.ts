import { badInput } from '@platform/shared';
import { parseNumericId } from '@platform/shared/ids';
import { storableText } from '@platform/shared/text-input';

// Turns the `movies` arguments into a checked filter, so the data layer only ever sees values
// it can bind as parameters, and every mistake is reported against the field that caused it.

/** `MovieFilter` as GraphQL hands it over. */
export interface MovieFilterInput {
  search?: string | null;
  genres?: readonly string[] | null;
  languages?: readonly string[] | null;
  yearFrom?: number | null;
  yearTo?: number | null;
  personId?: string | null;
}

/** A checked filter; null and empty lists mean "no restriction". */
export interface MovieFilter {
  search: string | null;
  genres: string[];
  languages: string[];
  yearFrom: number | null;
  yearTo: number | null;
  personId: number | null;
}

export const maxSearchLength = 200;
/** Far more than any real filter needs; keeps array parameters small. */
export const maxListValues = 20;

export function parseMovieFilter(input: MovieFilterInput | null | undefined): MovieFilter {
  const yearFrom = input?.yearFrom ?? null;
  const yearTo = input?.yearTo ?? null;
  if (yearFrom !== null && yearTo !== null && yearFrom > yearTo) {
    throw badInput('filter.yearFrom', `must not be after filter.yearTo (got ${yearFrom} > ${yearTo})`);
  }
  return {
    search: parseSearch(input?.search),
    genres: parseList('filter.genres', input?.genres),
    languages: parseList('filter.languages', input?.languages),
    yearFrom,
    yearTo,
    personId: parsePersonId(input?.personId),
  };
}

function parseSearch(search: string | null | undefined): string | null {
  if (search === null || search === undefined) return null;
  const trimmed = storableText('filter.search', search.trim());
  if (trimmed.length === 0) throw badInput('filter.search', 'must not be empty; omit it to list every movie');
  if (trimmed.length > maxSearchLength) {
    throw badInput('filter.search', `must be at most ${maxSearchLength} characters, got ${trimmed.length}`);
  }
  return trimmed;
}

function parseList(field: string, values: readonly string[] | null | undefined): string[] {
  if (!values) return [];
  if (values.length > maxListValues) throw badInput(field, `must list at most ${maxListValues} values, got ${values.length}`);
  return [...new Set(values.map((value) => storableText(field, value)))];
}

function parsePersonId(personId: string | null | undefined): number | null {
  if (personId === null || personId === undefined) return null;
  const id = parseNumericId(personId);
  if (id === null) throw badInput('filter.personId', 'is not a person id; pass the id of a Person');
  return id;
}
