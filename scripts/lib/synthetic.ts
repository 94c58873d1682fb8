// A deterministic synthetic dataset with the statistical features that recommendation and
// analytics code depend on: long-tail movie popularity, long-tail user activity, and users in a
// few latent taste clusters whose ratings follow their cluster's genre and era preferences.
//
// Everything derives from the seed through independent sub-streams (catalogue, user profiles,
// each user's ratings, each user's reactions), so one user's ratings can be regenerated on
// their own. That is what lets ratings() stream millions of rows, be iterated again with
// identical output, and lets reactions() agree with ratings() without storing either.

import { knownGenres as MOVIELENS_GENRES } from '@platform/shared/genres';
import type { Dataset, DatasetCastMember, DatasetMovie, DatasetPerson, DatasetRating, DatasetReaction, DatasetUser } from './dataset.ts';

export interface SyntheticDatasetOptions {
  seed?: number;
  users?: number;
  movies?: number;
  /** Mean number of ratings per user; individual users vary with a long tail. */
  ratingsPerUser?: number;
  people?: number;
  /**
   * Upper bound for every timestamp. Defaults to the start of the current UTC day, so that two
   * runs on the same day produce identical data while the data still looks recent.
   */
  now?: Date;
}

export { MOVIELENS_GENRES };

export type MovieLensGenre = (typeof MOVIELENS_GENRES)[number];

const DEFAULTS = { seed: 42, users: 300, movies: 1_000, ratingsPerUser: 60 } as const;
const FIRST_YEAR = 1930;
const LAST_YEAR = 2025;
const DAY_MS = 86_400_000;
const USER_HISTORY_DAYS = 730;

// ---------------------------------------------------------------------------------------------
// Seeded randomness

// Distinct sub-stream ids: each part of the dataset draws from its own stream, so changing the
// number of users does not reshuffle the catalogue, and so on.
const STREAM_PEOPLE = 1;
const STREAM_CATALOGUE = 2;
const STREAM_USERS = 3;
const STREAM_USER_RATINGS = 4;
const STREAM_USER_REACTIONS = 5;

/** Avalanche a 32-bit integer (the MurmurHash3 finaliser): every input bit affects every output bit. */
function avalanche32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function deriveSeed(seed: number, stream: number, index: number): number {
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let h = avalanche32((seed >>> 0) ^ avalanche32(high + 0x632be5ab));
  h = avalanche32(h ^ Math.imul(stream + 1, 0x9e3779b1));
  return avalanche32(h + Math.imul(index + 1, 0x85ebca77));
}

/**
 * A Weyl sequence (a counter stepping by an odd constant, which visits all 2^32 states) passed
 * through a strong 32-bit mixer. Small, fast, and plenty for data generation; not cryptographic.
 */
class SeededRandom {
  #state: number;
  #spareNormal: number | null = null;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
    x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
    return ((x ^ (x >>> 15)) >>> 0) / 0x1_0000_0000;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  between(minInclusive: number, maxInclusive: number): number {
    return minInclusive + this.int(maxInclusive - minInclusive + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('cannot pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const spare = this.#spareNormal;
      this.#spareNormal = null;
      return spare;
    }
    const u1 = 1 - this.next(); // in (0, 1], so the log is finite
    const u2 = this.next();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.#spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const weight of weights) total += weight;
    let target = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i] as number;
      if (target < 0) return i;
    }
    return weights.length - 1;
  }
}

/** Samples indices in proportion to fixed weights in O(log n) via a cumulative table. */
class WeightedSampler {
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(weights: ArrayLike<number>) {
    this.#cumulative = new Float64Array(weights.length);
    let running = 0;
    for (let i = 0; i < weights.length; i++) {
      running += weights[i] as number;
      this.#cumulative[i] = running;
    }
    this.#total = running;
  }

  sample(random: SeededRandom): number {
    const target = random.next() * this.#total;
    const cumulative = this.#cumulative;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] as number) > target) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

// ---------------------------------------------------------------------------------------------
// Taste clusters

const GENRE_INDEX = new Map<string, number>(MOVIELENS_GENRES.map((genre, index) => [genre, index]));

function genreIndex(genre: MovieLensGenre): number {
  return GENRE_INDEX.get(genre) as number;
}

interface TasteCluster {
  name: string;
  /** Share of users in this cluster (relative weight). */
  share: number;
  /** Affinity per genre, roughly -1 (avoid) .. +1 (love); unlisted genres are neutral. */
  genres: Partial<Record<MovieLensGenre, number>>;
  /** Preferred release era, if the cluster has one: affinity rises near `center`. */
  era: { center: number; width: number; strength: number } | null;
}

// Hand-made rather than random so that clusters are recognisable in analytics and demos.
const TASTE_CLUSTERS: readonly TasteCluster[] = [
  {
    name: 'blockbuster fans',
    share: 0.22,
    genres: { Action: 1, Adventure: 0.9, 'Sci-Fi': 0.9, IMAX: 0.8, Fantasy: 0.5, Documentary: -0.8, Romance: -0.5, Musical: -0.7, 'Film-Noir': -0.5 },
    era: { center: 2012, width: 14, strength: 0.35 },
  },
  {
    name: 'families',
    share: 0.15,
    genres: { Animation: 1, Children: 1, Comedy: 0.6, Fantasy: 0.6, Musical: 0.5, Horror: -1, Crime: -0.6, 'Film-Noir': -0.7, War: -0.6, Thriller: -0.5 },
    era: { center: 2008, width: 18, strength: 0.2 },
  },
  {
    name: 'drama and romance',
    share: 0.18,
    genres: { Drama: 1, Romance: 1, Musical: 0.5, Comedy: 0.3, Horror: -0.8, 'Sci-Fi': -0.5, Action: -0.4, IMAX: -0.3 },
    era: null,
  },
  {
    name: 'thrills and chills',
    share: 0.12,
    genres: { Horror: 1, Thriller: 0.9, Mystery: 0.7, Crime: 0.5, 'Sci-Fi': 0.3, Children: -0.9, Musical: -0.8, Romance: -0.6, Animation: -0.6 },
    era: { center: 2005, width: 20, strength: 0.15 },
  },
  {
    name: 'classic film buffs',
    share: 0.08,
    genres: { 'Film-Noir': 1, Western: 0.9, War: 0.8, Drama: 0.5, Mystery: 0.5, Children: -0.7, Animation: -0.4, IMAX: -0.8, Horror: -0.4 },
    era: { center: 1955, width: 22, strength: 0.6 },
  },
  {
    name: 'crime and mystery',
    share: 0.14,
    genres: { Crime: 1, Mystery: 0.9, Thriller: 0.8, 'Film-Noir': 0.5, Drama: 0.4, Children: -0.8, Musical: -0.7, Animation: -0.5, Fantasy: -0.3 },
    era: null,
  },
  {
    name: 'documentary and arthouse',
    share: 0.11,
    genres: { Documentary: 1, Drama: 0.8, War: 0.4, Romance: 0.2, Action: -0.5, IMAX: -0.6, Children: -0.6, Horror: -0.4 },
    era: { center: 1985, width: 35, strength: 0.1 },
  },
];

const CLUSTER_GENRE_AFFINITY: readonly Float64Array[] = TASTE_CLUSTERS.map((cluster) => {
  const affinity = new Float64Array(MOVIELENS_GENRES.length);
  for (const [genre, value] of Object.entries(cluster.genres)) affinity[genreIndex(genre as MovieLensGenre)] = value;
  return affinity;
});

function eraAffinity(cluster: TasteCluster, year: number): number {
  if (cluster.era === null) return 0;
  const distance = (year - cluster.era.center) / cluster.era.width;
  return cluster.era.strength * (2 * Math.exp(-distance * distance) - 1);
}

// ---------------------------------------------------------------------------------------------
// Word lists (all invented combinations; nothing here is a real film or person)

const FIRST_NAMES = [
  'Ada', 'Adrian', 'Aisha', 'Alejandro', 'Amara', 'Anders', 'Ananya', 'Anton', 'Beatriz', 'Bruno', 'Camille', 'Chen', 'Chloe',
  'Dario', 'Dmitri', 'Elena', 'Elif', 'Emeka', 'Esther', 'Farah', 'Felix', 'Freya', 'Gabriel', 'Hana', 'Hugo', 'Imani', 'Ines',
  'Isaac', 'Jonas', 'Julia', 'Kenji', 'Keira', 'Lars', 'Leila', 'Liam', 'Lucia', 'Malik', 'Marco', 'Maya', 'Mei', 'Nadia', 'Nikolai',
  'Noah', 'Nora', 'Olga', 'Omar', 'Oscar', 'Priya', 'Rafael', 'Rosa', 'Ruby', 'Samir', 'Sofia', 'Soren', 'Tariq', 'Thea', 'Tomas',
  'Valentina', 'Victor', 'Walter', 'Yara', 'Yusuf', 'Zainab', 'Zoe',
] as const;

const LAST_NAMES = [
  'Abara', 'Adler', 'Alvarez', 'Andersen', 'Bauer', 'Bellamy', 'Bianchi', 'Brennan', 'Castillo', 'Chandra', 'Costa', 'Dalton',
  'Delacroix', 'Dubois', 'Eriksen', 'Falk', 'Ferreira', 'Fischer', 'Gallagher', 'Garcia', 'Haddad', 'Hale', 'Hartmann', 'Hayes',
  'Ibrahim', 'Ivanova', 'Jensen', 'Kane', 'Kapoor', 'Kim', 'Kowalski', 'Laurent', 'Lindqvist', 'Lombardi', 'Mackenzie', 'Marsh',
  'Mendes', 'Moreau', 'Nakamura', 'Novak', 'Okafor', 'Olsen', 'Ortega', 'Park', 'Petrov', 'Quinn', 'Ramirez', 'Reyes', 'Rossi',
  'Sato', 'Schmidt', 'Silva', 'Sorensen', 'Tanaka', 'Torres', 'Underwood', 'Varga', 'Vasquez', 'Wagner', 'Walsh', 'Weber', 'Wong',
  'Yilmaz', 'Zhang',
] as const;

type Mood = 'dark' | 'epic' | 'light' | 'serious';

const GENRE_MOOD: Record<MovieLensGenre, Mood> = {
  Action: 'epic',
  Adventure: 'epic',
  Animation: 'light',
  Children: 'light',
  Comedy: 'light',
  Crime: 'dark',
  Documentary: 'serious',
  Drama: 'serious',
  Fantasy: 'epic',
  'Film-Noir': 'dark',
  Horror: 'dark',
  IMAX: 'epic',
  Musical: 'light',
  Mystery: 'dark',
  Romance: 'light',
  'Sci-Fi': 'epic',
  Thriller: 'dark',
  War: 'serious',
  Western: 'epic',
};

interface MoodWords {
  adjectives: readonly string[];
  nouns: readonly string[];
  protagonists: readonly string[];
  predicates: readonly string[];
  incidents: readonly string[];
  settings: readonly string[];
}

const MOOD_WORDS: Record<Mood, MoodWords> = {
  dark: {
    adjectives: ['Silent', 'Hollow', 'Crimson', 'Broken', 'Cold', 'Hidden', 'Midnight', 'Bitter', 'Forgotten', 'Pale', 'Sleepless', 'Fatal', 'Nameless', 'Drowned', 'Wicked', 'Vanishing'],
    nouns: ['Witness', 'Alibi', 'Shadow', 'Stranger', 'Confession', 'Ritual', 'Cellar', 'Echo', 'Motel', 'Verdict', 'Debt', 'Lullaby', 'Mirror', 'Ransom', 'Tenant', 'Undertow', 'Whisper', 'Accomplice'],
    protagonists: ['a burned-out homicide detective', 'a night-shift nurse', 'a small-town sheriff', 'a disgraced journalist', 'a grieving widower', 'a young public defender', 'a retired safecracker', 'an insomniac radio host', 'a private investigator', 'a teenage babysitter'],
    predicates: ['must prove their innocence', 'uncovers a conspiracy that reaches the highest levels of power', 'becomes the prime suspect in a string of disappearances', 'is drawn into a deadly game of cat and mouse', 'learns that the new house has a terrible history', 'must survive one very long night', 'follows a trail of anonymous letters', 'agrees to one last job'],
    incidents: ['a body washes ashore', 'a routine traffic stop goes wrong', 'a stranger knocks at the door during a storm', 'a briefcase of cash goes missing', 'the phone starts ringing at 3 a.m.'],
    settings: ['in 1970s Marseille', 'in a fog-bound harbour town', 'in rain-soaked Los Angeles', 'in a snowbound motel', 'deep in the Louisiana bayou', 'in the back streets of Naples'],
  },
  epic: {
    adjectives: ['Iron', 'Final', 'Endless', 'Savage', 'Golden', 'Lost', 'Rising', 'Outer', 'Red', 'Frozen', 'Distant', 'Burning', 'Thunder', 'Shattered', 'Eternal', 'Star'],
    nouns: ['Frontier', 'Horizon', 'Kingdom', 'Legion', 'Protocol', 'Storm', 'Empire', 'Outpost', 'Colony', 'Crusade', 'Ranger', 'Signal', 'Voyage', 'Citadel', 'Titan', 'Exodus', 'Sentinel', 'Dominion'],
    protagonists: ['a reluctant mercenary', 'a young starship pilot', 'an exiled princess', 'a weary cavalry officer', 'a rookie smokejumper', 'a stranded astronaut', 'an aging gunslinger', 'a band of unlikely heroes', 'a former special forces medic', 'an apprentice blacksmith'],
    predicates: ['leads a desperate rescue mission', 'must unite rival clans against a common enemy', 'races against time to stop a catastrophe', 'sets out to recover a legendary artifact', 'must defend a remote outpost', 'embarks on a perilous journey', 'becomes the last hope against an invading armada'],
    incidents: ['an ancient enemy returns', 'a distress signal reaches Earth', 'the railroad comes to town', 'the capital falls overnight', 'a comet appears in the sky'],
    settings: ['across the American frontier', 'aboard a crippled space station', 'in near-future Tokyo', 'in a kingdom on the brink of war', 'on a frozen moon of Jupiter', 'across the deserts of North Africa'],
  },
  light: {
    adjectives: ['Little', 'Lucky', 'Perfect', 'Crazy', 'Sweet', 'Big', 'Wild', 'Happy', 'Summer', 'Secret', 'Accidental', 'Wonderful', 'Runaway', 'Merry', 'Tiny', 'Second-Hand'],
    nouns: ['Wedding', 'Holiday', 'Bakery', 'Roommate', 'Detour', 'Dog', 'Neighbours', 'Cupcake', 'Penguin', 'Adventure', 'Heartbeat', 'Proposal', 'Reunion', 'Treehouse', 'Parade', 'Dragon', 'Balloon', 'Kitchen'],
    protagonists: ['a clumsy wedding planner', 'two estranged sisters', 'a shy pastry chef', 'a talking dog', 'a retired ballroom dancer', 'an overworked single mom', 'a group of summer campers', 'a lovesick mail carrier', 'a young dragon', 'a washed-up boy-band singer'],
    predicates: ['tries to win back a first love', 'plans the perfect surprise party', 'accidentally swaps lives with a stranger', 'enters a national baking competition', 'goes on a road trip that goes hilariously wrong', 'must save the family restaurant', 'learns to dance in time for the big competition'],
    incidents: ['an inheritance comes with strings attached', 'a blind date goes spectacularly wrong', 'the school play loses its lead', 'a magical snow globe arrives in the post', 'the family reunion is double-booked'],
    settings: ['in a sleepy coastal town', 'in the suburbs of Chicago', 'during a sweltering New York summer', 'in a snowy Alpine village', 'at a run-down holiday camp', 'in an enchanted forest'],
  },
  serious: {
    adjectives: ['Quiet', 'Long', 'Distant', 'Ordinary', 'Unfinished', 'Paper', 'Glass', 'Fragile', 'Winter', 'Late', 'Northern', 'Open', 'Small', 'Borrowed', 'Tender', 'Restless'],
    nouns: ['Years', 'Letters', 'House', 'River', 'Season', 'Promise', 'Harvest', 'Inheritance', 'Daughter', 'Silence', 'Field', 'Garden', 'Country', 'Testament', 'Shore', 'Portrait', 'Hours', 'Crossing'],
    protagonists: ['a struggling single father', 'an aging concert pianist', 'a young immigrant', 'a small-town doctor', 'a recovering alcoholic', 'a factory worker', 'a widowed farmer', 'a gifted but troubled student', 'two old friends', 'a retired schoolteacher'],
    predicates: ['confronts a painful family secret', 'fights to keep the family farm', 'tries to rebuild a life after prison', 'cares for an ailing parent', 'searches for a long-lost sibling', 'struggles to hold the family together', 'finds an unexpected friendship'],
    incidents: ['a letter arrives from the past', 'the mill closes', 'the war finally ends', 'a diagnosis changes everything', 'an old friend returns home'],
    settings: ['in post-war Berlin', 'in present-day Mumbai', 'in a mining town in Wales', 'on a remote Scottish island', 'in rural Anatolia', 'in 1950s Lisbon'],
  },
};

const PLACES = ['Avalon', 'Marrakesh', 'Kingston', 'Tangier', 'Lisbon', 'Saigon', 'Nevada', 'Babylon', 'Kyoto', 'Galveston', 'Odessa', 'Patagonia', 'Shanghai', 'Dakota', 'Havana', 'Berlin', 'Harlem', 'Palermo', 'the Yukon', 'Europa'];
const TIME_WORDS = ['Midnight', 'Summer', 'Winter', 'Sunday', 'Rain', 'Twilight', 'Autumn', 'Dawn'];
const DOCUMENTARY_SUBJECTS = ['a family of beekeepers', 'the last glassblowers of Murano', 'a championship chess club', 'climate scientists in Antarctica', 'a legendary jazz drummer', 'the street food vendors of Bangkok', 'a rural hospital', 'a high school robotics team', 'a river that is running dry'];
const ROLE_TITLES = ['Detective', 'Dr.', 'Captain', 'Agent', 'Sergeant', 'Professor', 'Officer', 'Mrs.', 'Mr.'];
const GENERIC_CHARACTERS = ['The Stranger', 'Narrator', 'The Landlord', 'Bartender', 'The Boss', 'Taxi Driver', 'Nurse', 'Old Man', 'Little Girl'];

const GENERIC_TAGS = ['based on a book', 'visually stunning', 'great soundtrack', 'cult classic', 'slow burn', 'twist ending', 'ensemble cast', 'true story', 'quotable', 'underrated'];
const GENRE_TAGS: Partial<Record<MovieLensGenre, readonly string[]>> = {
  Action: ['car chase', 'explosions', 'martial arts'],
  Adventure: ['treasure hunt', 'road trip'],
  Animation: ['pixar-like', 'hand-drawn'],
  Children: ['family', 'talking animals'],
  Comedy: ['dark comedy', 'feel-good', 'satire'],
  Crime: ['heist', 'gangsters', 'police'],
  Documentary: ['social issues', 'nature'],
  Drama: ['tearjerker', 'character study', 'coming of age'],
  Fantasy: ['magic', 'dragons'],
  'Film-Noir': ['femme fatale', 'black and white'],
  Horror: ['atmospheric', 'gore', 'haunted house'],
  Musical: ['dancing', 'broadway'],
  Mystery: ['whodunit', 'detective'],
  Romance: ['romantic', 'love triangle'],
  'Sci-Fi': ['space', 'time travel', 'dystopia', 'artificial intelligence'],
  Thriller: ['suspense', 'psychological'],
  War: ['world war ii', 'anti-war'],
  Western: ['cowboys', 'revenge'],
};

const LANGUAGES = ['en', 'fr', 'es', 'ja', 'de', 'it', 'ko', 'zh', 'hi', 'sv', 'da', 'ru', 'pt'] as const;
const LANGUAGE_WEIGHTS = [72, 5, 4, 4, 3, 3, 2.5, 2, 2, 1, 1, 0.8, 0.7] as const;

// Approximate share of MovieLens movies carrying each genre, in MOVIELENS_GENRES order.
const GENRE_BASE_WEIGHTS = [18, 13, 6, 7, 39, 12, 4.5, 45, 8, 0.9, 10, 1.5, 3.5, 6, 16, 10, 19, 4, 1.7] as const;

// ---------------------------------------------------------------------------------------------
// Generation

interface ResolvedOptions {
  seed: number;
  users: number;
  movies: number;
  ratingsPerUser: number;
  people: number;
  now: Date;
}

function resolveOptions(options: SyntheticDatasetOptions): ResolvedOptions {
  const seed = options.seed ?? DEFAULTS.seed;
  const users = options.users ?? DEFAULTS.users;
  const movies = options.movies ?? DEFAULTS.movies;
  const ratingsPerUser = options.ratingsPerUser ?? DEFAULTS.ratingsPerUser;
  // About 1.5 credited people per movie keeps casts overlapping, which graph features need.
  const people = options.people ?? Math.max(10, Math.round(movies * 1.5));
  const now = options.now ?? startOfUtcDay(new Date());
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  for (const [name, value] of [['users', users], ['movies', movies], ['people', people]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  if (!Number.isFinite(ratingsPerUser) || ratingsPerUser < 0) throw new RangeError(`ratingsPerUser must be a non-negative number, got ${ratingsPerUser}`);
  if (Number.isNaN(now.getTime())) throw new RangeError('now must be a valid date');
  if (now.getUTCFullYear() < FIRST_YEAR) throw new RangeError(`now must not be before ${FIRST_YEAR}`);
  return { seed, users, movies, ratingsPerUser, people, now };
}

function startOfUtcDay(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}

function fullName(random: SeededRandom): string {
  return `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}`;
}

function generatePeople(options: ResolvedOptions): DatasetPerson[] {
  const random = new SeededRandom(deriveSeed(options.seed, STREAM_PEOPLE, 0));
  const usedNames = new Set<string>();
  const people: DatasetPerson[] = [];
  for (let i = 0; i < options.people; i++) {
    let name = fullName(random);
    // Distinct names keep credits readable; once the combinations run low, a middle initial
    // disambiguates, as it does for real namesakes.
    for (let attempt = 0; usedNames.has(name) && attempt < 20; attempt++) {
      name = attempt < 10 ? fullName(random) : `${random.pick(FIRST_NAMES)} ${String.fromCharCode(65 + random.int(26))}. ${random.pick(LAST_NAMES)}`;
    }
    usedNames.add(name);
    people.push({ key: `syn:person:${i + 1}`, name });
  }
  return people;
}

/** Per-movie numbers the rating model needs, kept in typed arrays so sampling stays cheap. */
interface CatalogueModel {
  movies: DatasetMovie[];
  /** Genre indices of each movie. */
  genreIndices: Uint8Array[];
  years: Int32Array;
  /** Intrinsic quality offset added to every rating of the movie. */
  quality: Float64Array;
  /** Relative chance of being picked to be rated (Zipf over a popularity rank). */
  popularity: Float64Array;
  /** Earliest moment anyone can rate the movie: 1 January of its release year. */
  releaseMs: Float64Array;
}

function eraGenreWeight(genre: MovieLensGenre, year: number): number {
  switch (genre) {
    case 'Film-Noir':
      return year >= 1940 && year <= 1959 ? 12 : year > 1980 ? 0.15 : 0;
    case 'Western':
      return year < 1970 ? 4 : 0.5;
    case 'Musical':
      return year < 1966 ? 2.5 : 0.8;
    case 'War':
      return year >= 1940 && year < 1970 ? 2.5 : 1;
    case 'IMAX':
      return year >= 1995 ? 3 : 0;
    case 'Animation':
      return year < 1990 ? 0.4 : 1.3;
    case 'Action':
    case 'Sci-Fi':
      return year < 1970 ? 0.4 : 1.1;
    case 'Documentary':
      return year < 1960 ? 0.3 : 1;
    default:
      return 1;
  }
}

function genrePair(a: MovieLensGenre, b: MovieLensGenre): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

// Combinations that real catalogues (almost) never contain.
const INCOMPATIBLE_GENRES = new Set<string>(
  (
    [
      ['Children', 'Horror'],
      ['Children', 'Film-Noir'],
      ['Children', 'War'],
      ['Animation', 'Film-Noir'],
      ['Comedy', 'Film-Noir'],
      ['Film-Noir', 'Sci-Fi'],
      ['Film-Noir', 'Western'],
      ['Film-Noir', 'Musical'],
      ['Film-Noir', 'Fantasy'],
      ['Horror', 'Musical'],
      ['IMAX', 'Film-Noir'],
    ] as const
  ).map(([a, b]) => genrePair(a, b)),
);

function drawGenres(random: SeededRandom, year: number): MovieLensGenre[] {
  const weights = MOVIELENS_GENRES.map((genre, index) => (GENRE_BASE_WEIGHTS[index] as number) * eraGenreWeight(genre, year));
  const first = MOVIELENS_GENRES[random.weightedIndex(weights)] as MovieLensGenre;
  const genres: MovieLensGenre[] = [first];
  if (first === 'Documentary' && random.chance(0.85)) return genres;
  if (first === 'Animation' && random.chance(0.6)) genres.push('Children');
  const roll = random.next();
  const wanted = roll < 0.4 ? 1 : roll < 0.75 ? 2 : 3;
  while (genres.length < wanted) {
    const candidateWeights = weights.map((weight, index) => {
      const genre = MOVIELENS_GENRES[index] as MovieLensGenre;
      // Documentary is non-fiction, so it does not pair with fiction genres as a secondary.
      if (genres.includes(genre) || genre === 'Documentary') return 0;
      if (genres.some((chosen) => INCOMPATIBLE_GENRES.has(genrePair(chosen, genre)))) return 0;
      // Genres of the same mood combine far more often (Crime|Thriller, Adventure|Sci-Fi).
      return GENRE_MOOD[genre] === GENRE_MOOD[first] ? weight * 3 : weight;
    });
    if (!candidateWeights.some((weight) => weight > 0)) break;
    genres.push(MOVIELENS_GENRES[random.weightedIndex(candidateWeights)] as MovieLensGenre);
  }
  // IMAX as a lone genre says nothing about the film; give it a real one.
  if (genres.length === 1 && first === 'IMAX') genres.push(random.pick(['Action', 'Adventure', 'Sci-Fi', 'Documentary'] as const));
  return genres;
}

function drawLanguages(random: SeededRandom): string[] {
  const primary = LANGUAGES[random.weightedIndex(LANGUAGE_WEIGHTS)] as string;
  if (!random.chance(0.12)) return [primary];
  let secondary = LANGUAGES[random.weightedIndex(LANGUAGE_WEIGHTS)] as string;
  if (secondary === primary) secondary = primary === 'en' ? 'fr' : 'en';
  return [primary, secondary];
}

function drawRuntime(random: SeededRandom, genres: readonly MovieLensGenre[], year: number): number | null {
  if (random.chance(0.02)) return null;
  let mean = 104;
  if (genres.includes('Animation') || genres.includes('Children')) mean = 89;
  else if (genres.includes('Documentary')) mean = 94;
  else if (genres.includes('War') || genres.includes('Western')) mean = 122;
  else if (genres.includes('Action') || genres.includes('Adventure')) mean = 116;
  else if (genres.includes('Horror') || genres.includes('Comedy')) mean = 97;
  if (year < 1960) mean -= 10;
  let runtime = mean + random.normal() * 14;
  if (random.chance(0.03)) runtime += 45; // the occasional epic
  return Math.round(Math.min(220, Math.max(62, runtime)));
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function drawTitle(random: SeededRandom, mood: Mood, isDocumentary: boolean): string {
  const words = MOOD_WORDS[mood];
  const adjective = random.pick(words.adjectives);
  const noun = random.pick(words.nouns);
  if (isDocumentary && random.chance(0.5)) {
    return random.pick([`Inside the ${noun}`, `The ${noun} Project`, `Voices of ${random.pick(PLACES)}`, `The Last ${noun}`]);
  }
  switch (random.int(9)) {
    case 0:
    case 1:
      return `The ${adjective} ${noun}`;
    case 2:
      return `${adjective} ${noun}`;
    case 3:
      return `The ${noun}`;
    case 4:
      return `${noun} of ${random.pick(PLACES)}`;
    case 5:
      return `${random.pick(FIRST_NAMES)}'s ${noun}`;
    case 6:
      return `The ${noun} and the ${random.pick(words.nouns.filter((other) => other !== noun))}`;
    case 7:
      return `${random.pick(TIME_WORDS)} in ${random.pick(PLACES)}`;
    default:
      return `${noun}: ${random.pick(words.adjectives)} ${random.pick(words.nouns)}`;
  }
}

function drawOverview(random: SeededRandom, mood: Mood, isDocumentary: boolean): string {
  if (isDocumentary) {
    const subject = random.pick(DOCUMENTARY_SUBJECTS);
    return random.chance(0.5)
      ? `This documentary follows ${subject} over one remarkable year.`
      : `An intimate portrait of ${subject}, told by the people who lived it.`;
  }
  const words = MOOD_WORDS[mood];
  const protagonist = random.pick(words.protagonists);
  const predicate = random.pick(words.predicates);
  const setting = random.pick(words.settings);
  if (random.chance(0.4)) return `When ${random.pick(words.incidents)}, ${protagonist} ${predicate} ${setting}.`;
  return `${capitalise(protagonist)} ${predicate} ${setting}.`;
}

function drawTags(random: SeededRandom, genres: readonly MovieLensGenre[], count: number): string[] {
  const tags = new Set<string>();
  for (let attempt = 0; tags.size < count && attempt < count * 4; attempt++) {
    const genreTags = GENRE_TAGS[random.pick(genres)];
    tags.add(genreTags !== undefined && random.chance(0.65) ? random.pick(genreTags) : random.pick(GENERIC_TAGS));
  }
  return [...tags];
}

function drawCharacter(random: SeededRandom, isDocumentary: boolean): string | null {
  // Documentary participants appear as themselves, which credits record as no character.
  if (isDocumentary || random.chance(0.05)) return null;
  const roll = random.next();
  if (roll < 0.35) return random.pick(FIRST_NAMES);
  if (roll < 0.7) return `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}`;
  if (roll < 0.9) return `${random.pick(ROLE_TITLES)} ${random.pick(LAST_NAMES)}`;
  return random.pick(GENERIC_CHARACTERS);
}

function uniqueNumber(random: SeededRandom, used: Set<number>, min: number, max: number): number {
  // Rejection sampling would spin forever once the range is (nearly) used up.
  if (used.size >= (max - min + 1) / 2) throw new RangeError(`too many movies for unique ids in ${min}..${max}`);
  for (;;) {
    const value = min + random.int(max - min + 1);
    if (!used.has(value)) {
      used.add(value);
      return value;
    }
  }
}

/** Zipf-like weights 1/(rank + offset)^exponent; the offset keeps the very top from dominating. */
function zipfWeights(count: number, exponent: number, offset: number): Float64Array {
  const weights = new Float64Array(count);
  for (let rank = 0; rank < count; rank++) weights[rank] = 1 / Math.pow(rank + offset, exponent);
  return weights;
}

function generateCatalogue(options: ResolvedOptions, people: readonly DatasetPerson[]): CatalogueModel {
  const random = new SeededRandom(deriveSeed(options.seed, STREAM_CATALOGUE, 0));
  const count = options.movies;
  const lastYear = Math.min(LAST_YEAR, options.now.getUTCFullYear());
  const yearSpan = lastYear - FIRST_YEAR + 1;

  // A few prolific directors and a few stars who appear everywhere, like real credits.
  const directorCount = people.length === 0 ? 0 : Math.max(1, Math.round(people.length * 0.12));
  const directors = people.slice(0, directorCount);
  const actors = people.length - directorCount >= 3 ? people.slice(directorCount) : people.slice();
  const directorSampler = new WeightedSampler(zipfWeights(directors.length, 0.8, 3));
  const actorSampler = new WeightedSampler(zipfWeights(actors.length, 0.9, 5));

  const movies: DatasetMovie[] = [];
  const genreIndices: Uint8Array[] = [];
  const years = new Int32Array(count);
  const quality = new Float64Array(count);
  const releaseMs = new Float64Array(count);
  const usedImdb = new Set<number>();
  const usedTmdb = new Set<number>();
  const usedTitles = new Set<string>();

  for (let i = 0; i < count; i++) {
    // Squaring a uniform skews towards 0, i.e. towards recent years, like real catalogues.
    let year = lastYear - Math.floor(yearSpan * Math.pow(random.next(), 2));
    let genres = drawGenres(random, year);
    let mood = GENRE_MOOD[genres[0] as MovieLensGenre];
    const isDocumentary = genres[0] === 'Documentary';
    let title = drawTitle(random, mood, isDocumentary);
    // Real catalogues do repeat titles, but rarely; a few redraws keep repeats to a trickle.
    for (let attempt = 0; usedTitles.has(title) && attempt < 5; attempt++) title = drawTitle(random, mood, isDocumentary);

    // Occasionally a sequel to an earlier film: same genres, a later year, a numbered title.
    if (i > 20 && !isDocumentary && random.chance(0.04)) {
      const original = random.int(i);
      const originalYear = years[original] as number;
      const originalMovie = movies[original] as DatasetMovie;
      if (originalYear < lastYear && !/ \d$/.test(originalMovie.title)) {
        year = Math.min(lastYear, originalYear + random.between(2, 6));
        genres = originalMovie.genres as MovieLensGenre[];
        mood = GENRE_MOOD[genres[0] as MovieLensGenre];
        title = `${originalMovie.title} ${random.between(2, 3)}`;
      }
    }

    const directorKeys: string[] = [];
    if (directors.length > 0) {
      directorKeys.push((directors[directorSampler.sample(random)] as DatasetPerson).key);
      if (directors.length > 1 && random.chance(0.06)) {
        const second = (directors[directorSampler.sample(random)] as DatasetPerson).key;
        if (second !== directorKeys[0]) directorKeys.push(second);
      }
    }
    const cast: DatasetCastMember[] = [];
    const castSize = Math.min(actors.length, isDocumentary ? random.int(3) : random.between(3, 8));
    const inCast = new Set<string>();
    for (let attempt = 0; cast.length < castSize && attempt < castSize * 10; attempt++) {
      const personKey = (actors[actorSampler.sample(random)] as DatasetPerson).key;
      if (inCast.has(personKey)) continue;
      inCast.add(personKey);
      cast.push({ personKey, character: drawCharacter(random, isDocumentary) });
    }

    usedTitles.add(title);
    years[i] = year;
    releaseMs[i] = Date.UTC(year, 0, 1);
    // Older films that are still in a catalogue are the ones that survived, so slightly better.
    quality[i] = random.normal() * 0.35 + (year < 1970 ? 0.1 : 0);
    genreIndices.push(Uint8Array.from(genres, (genre) => genreIndex(genre)));
    movies.push({
      key: `syn:movie:${i + 1}`,
      title,
      year,
      genres: [...genres],
      languages: drawLanguages(random),
      runtimeMinutes: drawRuntime(random, genres, year),
      overview: drawOverview(random, mood, isDocumentary),
      // Older films got lower IMDb numbers; keep that rough ordering.
      imdbId: `tt${String(uniqueNumber(random, usedImdb, year < 1990 ? 10_000 : 90_000, year < 1990 ? 999_999 : 9_999_999)).padStart(7, '0')}`,
      tmdbId: String(uniqueNumber(random, usedTmdb, 2, 1_200_000)),
      directorKeys,
      cast,
      tags: [],
    });
  }

  // Popularity rank: mostly luck, helped by quality and recency, then a Zipf curve over ranks.
  const popularityScore = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const recency = ((years[i] as number) - FIRST_YEAR) / yearSpan;
    popularityScore[i] = random.normal() + 1.5 * (quality[i] as number) + 0.8 * recency;
  }
  const byPopularity = Array.from({ length: count }, (_, i) => i).sort((a, b) => (popularityScore[b] as number) - (popularityScore[a] as number) || a - b);
  const rankWeights = zipfWeights(count, 1.05, 3);
  const popularity = new Float64Array(count);
  byPopularity.forEach((movieIndex, rank) => {
    popularity[movieIndex] = rankWeights[rank] as number;
    // Popular films collect more user tags.
    const movie = movies[movieIndex] as DatasetMovie;
    const tagCount = rank < count * 0.1 ? random.between(3, 6) : random.int(3);
    movie.tags = drawTags(random, movie.genres as MovieLensGenre[], tagCount);
  });

  return { movies, genreIndices, years, quality, popularity, releaseMs };
}

interface UserProfile {
  index: number;
  cluster: number;
  /** Cluster affinity per genre plus this user's own deviations. */
  genreAffinity: Float64Array;
  /** Harsh or generous rater. */
  bias: number;
  /** Many people only ever give whole stars. */
  usesHalfStars: boolean;
  /** Share of this user's picks that follow their taste rather than what is popular overall. */
  tasteDriven: number;
  ratingCount: number;
  createdAtMs: number;
  /** Chance of adding a LIKE/DISLIKE to a rating that qualifies for one. */
  reactsRate: number;
}

const CLUSTER_SHARES = TASTE_CLUSTERS.map((cluster) => cluster.share);

function generateUserProfiles(options: ResolvedOptions): UserProfile[] {
  const random = new SeededRandom(deriveSeed(options.seed, STREAM_USERS, 0));
  const nowMs = options.now.getTime();
  const maxRatings = Math.max(0, Math.ceil(options.movies * 0.6));
  // Lognormal activity: most users rate a few dozen movies, a few rate hundreds. mu is chosen
  // so that the distribution's mean is ratingsPerUser.
  const sigma = 0.9;
  const mu = Math.log(Math.max(options.ratingsPerUser, 1e-9)) - (sigma * sigma) / 2;
  const profiles: UserProfile[] = [];
  for (let index = 0; index < options.users; index++) {
    const cluster = random.weightedIndex(CLUSTER_SHARES);
    const clusterAffinity = CLUSTER_GENRE_AFFINITY[cluster] as Float64Array;
    const genreAffinity = new Float64Array(MOVIELENS_GENRES.length);
    for (let g = 0; g < genreAffinity.length; g++) genreAffinity[g] = (clusterAffinity[g] as number) + random.normal() * 0.25;
    const activity = options.ratingsPerUser === 0 ? 0 : Math.round(Math.exp(mu + sigma * random.normal()));
    const ratingCount = Math.min(maxRatings, Math.max(options.ratingsPerUser === 0 ? 0 : 1, activity));
    // More recent sign-ups are more common (a growing service); at least an hour old so that
    // every account has time to rate before `now`.
    const ageMs = Math.max(3_600_000, Math.floor(USER_HISTORY_DAYS * DAY_MS * Math.pow(random.next(), 1.3)));
    profiles.push({
      index,
      cluster,
      genreAffinity,
      bias: random.normal() * 0.35,
      usesHalfStars: random.chance(0.45),
      tasteDriven: 0.4 + random.next() * 0.4,
      ratingCount,
      createdAtMs: Math.floor((nowMs - ageMs) / 1000) * 1000,
      reactsRate: random.chance(0.45) ? 0.2 + random.next() * 0.5 : 0,
    });
  }
  return profiles;
}

function favoriteGenresOf(profile: UserProfile, random: SeededRandom): string[] {
  const ranked = Array.from(profile.genreAffinity, (affinity, index) => ({ affinity, index })).sort((a, b) => b.affinity - a.affinity || a.index - b.index);
  const roll = random.next();
  const wanted = roll < 0.15 ? 1 : roll < 0.6 ? 2 : 3;
  const chosen = ranked.slice(0, wanted).filter((entry, position) => position === 0 || entry.affinity > 0.3);
  return chosen.map((entry) => MOVIELENS_GENRES[entry.index] as string);
}

function toDatasetUser(profile: UserProfile, options: ResolvedOptions): DatasetUser {
  // A separate stream, so adding display fields never changes the rating model.
  const random = new SeededRandom(deriveSeed(options.seed, STREAM_USERS, profile.index + 1));
  return {
    key: `syn:user:${profile.index + 1}`,
    username: `demo_user_${profile.index + 1}`,
    displayName: random.chance(0.85) ? fullName(random) : null,
    favoriteGenres: favoriteGenresOf(profile, random),
    createdAt: new Date(profile.createdAtMs),
  };
}

interface RatingModel {
  options: ResolvedOptions;
  catalogue: CatalogueModel;
  profiles: readonly UserProfile[];
  globalSampler: WeightedSampler;
  clusterSamplers: readonly WeightedSampler[];
  /** Per cluster, per movie: genre and era affinity (without the user's personal deviations). */
  clusterMovieAffinity: readonly Float64Array[];
}

function buildRatingModel(options: ResolvedOptions, catalogue: CatalogueModel, profiles: readonly UserProfile[]): RatingModel {
  const count = catalogue.movies.length;
  const clusterMovieAffinity = TASTE_CLUSTERS.map((cluster, clusterIndex) => {
    const genreAffinity = CLUSTER_GENRE_AFFINITY[clusterIndex] as Float64Array;
    const affinity = new Float64Array(count);
    for (let m = 0; m < count; m++) {
      const genres = catalogue.genreIndices[m] as Uint8Array;
      let sum = 0;
      for (const g of genres) sum += genreAffinity[g] as number;
      affinity[m] = sum / genres.length + eraAffinity(cluster, catalogue.years[m] as number);
    }
    return affinity;
  });
  // Taste decides what people choose to watch as well as how they rate it, so the implicit
  // signal (who rated what) carries the clusters too.
  const clusterSamplers = clusterMovieAffinity.map((affinity) => {
    const weights = new Float64Array(count);
    for (let m = 0; m < count; m++) weights[m] = (catalogue.popularity[m] as number) * Math.exp(2 * (affinity[m] as number));
    return new WeightedSampler(weights);
  });
  return { options, catalogue, profiles, globalSampler: new WeightedSampler(catalogue.popularity), clusterSamplers, clusterMovieAffinity };
}

/**
 * One user's ratings in time order. `seen` is scratch space owned by the calling iterator:
 * seen[movie] === stamp marks a movie already rated by this user without clearing the array.
 */
function generateUserRatings(model: RatingModel, profile: UserProfile, seen: Int32Array): DatasetRating[] {
  const { catalogue, options } = model;
  const count = profile.ratingCount;
  if (count === 0) return [];
  const random = new SeededRandom(deriveSeed(options.seed, STREAM_USER_RATINGS, profile.index));
  const stamp = profile.index + 1;
  const clusterSampler = model.clusterSamplers[profile.cluster] as WeightedSampler;
  const picked: number[] = [];
  // Rejection sampling is fast while the user has rated a small part of the catalogue; heavy
  // users near the cap hit already-rated movies often, so give up after a budget and fill the
  // rest uniformly from what is left.
  const budget = 20 * count + 100;
  for (let attempt = 0; picked.length < count && attempt < budget; attempt++) {
    const sampler = random.next() < profile.tasteDriven ? clusterSampler : model.globalSampler;
    const movie = sampler.sample(random);
    if (seen[movie] === stamp) continue;
    seen[movie] = stamp;
    picked.push(movie);
  }
  if (picked.length < count) {
    const remaining: number[] = [];
    for (let m = 0; m < seen.length; m++) if (seen[m] !== stamp) remaining.push(m);
    for (let i = 0; picked.length < count; i++) {
      const j = i + random.int(remaining.length - i);
      const movie = remaining[j] as number;
      remaining[j] = remaining[i] as number;
      seen[movie] = stamp;
      picked.push(movie);
    }
  }

  const clusterAffinity = model.clusterMovieAffinity[profile.cluster] as Float64Array;
  const clusterGenreAffinity = CLUSTER_GENRE_AFFINITY[profile.cluster] as Float64Array;
  const nowMs = options.now.getTime();
  const userKey = `syn:user:${profile.index + 1}`;
  const ratings: DatasetRating[] = [];
  for (const movie of picked) {
    const genres = catalogue.genreIndices[movie] as Uint8Array;
    let personal = 0;
    for (const g of genres) personal += (profile.genreAffinity[g] as number) - (clusterGenreAffinity[g] as number);
    const affinity = (clusterAffinity[movie] as number) + personal / genres.length;
    const score = 3.15 + (catalogue.quality[movie] as number) + profile.bias + affinity + 0.75 * random.normal();
    const rating = profile.usesHalfStars ? Math.min(5, Math.max(0.5, Math.round(score * 2) / 2)) : Math.min(5, Math.max(1, Math.round(score)));

    // Nobody rates a film before it exists or before signing up; activity is front-loaded
    // after sign-up (squared uniform), as with real new accounts.
    const earliest = Math.max(profile.createdAtMs + 1000, catalogue.releaseMs[movie] as number);
    const atMs = earliest + (nowMs - earliest) * Math.pow(random.next(), 2);
    ratings.push({ userKey, movieKey: (catalogue.movies[movie] as DatasetMovie).key, rating, at: new Date(Math.min(nowMs, Math.floor(atMs / 1000) * 1000)) });
  }
  ratings.sort((a, b) => a.at.getTime() - b.at.getTime() || (a.movieKey < b.movieKey ? -1 : a.movieKey > b.movieKey ? 1 : 0));
  return ratings;
}

function* generateRatings(model: RatingModel): Generator<DatasetRating> {
  const seen = new Int32Array(model.catalogue.movies.length);
  for (const profile of model.profiles) yield* generateUserRatings(model, profile, seen);
}

function* generateReactions(model: RatingModel): Generator<DatasetReaction> {
  const seen = new Int32Array(model.catalogue.movies.length);
  const nowMs = model.options.now.getTime();
  for (const profile of model.profiles) {
    if (profile.reactsRate === 0) continue;
    const random = new SeededRandom(deriveSeed(model.options.seed, STREAM_USER_REACTIONS, profile.index));
    for (const rating of generateUserRatings(model, profile, seen)) {
      let reaction: DatasetReaction['reaction'] | null = null;
      if (rating.rating >= 4.5 && random.chance(profile.reactsRate)) reaction = 'LIKE';
      else if (rating.rating === 4 && random.chance(profile.reactsRate * 0.25)) reaction = 'LIKE';
      else if (rating.rating <= 1.5 && random.chance(profile.reactsRate)) reaction = 'DISLIKE';
      else if (rating.rating === 2 && random.chance(profile.reactsRate * 0.4)) reaction = 'DISLIKE';
      if (reaction === null) continue;
      // Reacting happens in the same session as rating, a little later.
      const atMs = Math.min(nowMs, rating.at.getTime() + 1000 * random.between(5, 3600));
      yield { userKey: rating.userKey, movieKey: rating.movieKey, reaction, at: new Date(atMs) };
    }
  }
}

export function generateSyntheticDataset(options: SyntheticDatasetOptions = {}): Dataset {
  const resolved = resolveOptions(options);
  const people = generatePeople(resolved);
  const catalogue = generateCatalogue(resolved, people);
  const profiles = generateUserProfiles(resolved);
  const model = buildRatingModel(resolved, catalogue, profiles);
  const users = profiles.map((profile) => toDatasetUser(profile, resolved));
  let ratingCount = 0;
  for (const profile of profiles) ratingCount += profile.ratingCount;
  return {
    source: 'synthetic',
    people,
    movies: catalogue.movies,
    users,
    // Re-iterable objects rather than bare generators, so iterating the same returned value
    // twice also works.
    ratings: () => ({ [Symbol.iterator]: () => generateRatings(model) }),
    reactions: () => ({ [Symbol.iterator]: () => generateReactions(model) }),
    ratingCount,
  };
}
