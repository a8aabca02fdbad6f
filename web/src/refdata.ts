// Reference data loaded once per session: departments and the category taxonomy's leaves.

import { api } from "./api";

export interface Department {
  id: number;
  code: string;
  name: string;
  kind: string;
  active: boolean;
}

export interface Category {
  id: number;
  code: string;
  name: string;
  level: number;
  path: string;
}

let departments: Promise<Department[]> | null = null;
let categories: Promise<Category[]> | null = null;

export function getDepartments(): Promise<Department[]> {
  departments ??= api<Department[]>("/api/v1/departments").then(
    (rows) => rows.filter((d) => d.active),
    (err: unknown) => {
      departments = null; // a failed load is not kept: the next caller asks again
      throw err;
    },
  );
  return departments;
}

export function getCategories(): Promise<Category[]> {
  categories ??= api<Category[]>("/api/v1/categories").then(
    (rows) => {
      const parents = new Set(rows.map((c) => c.path.split("/").slice(0, -1).join("/")));
      return rows.filter((c) => !parents.has(c.path)); // leaves only: events are filed under a leaf
    },
    (err: unknown) => {
      categories = null;
      throw err;
    },
  );
  return categories;
}

export function forgetRefdata(): void {
  departments = null;
  categories = null;
}
