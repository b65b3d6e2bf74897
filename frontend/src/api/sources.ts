// Sources: where events come from.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, fetchAll } from './client'
import { keys } from './keys'
import type { NewSource, Source } from './types'

/** Every source of the user (all pages). */
export function useSources() {
  return useQuery({ queryKey: keys.sources, queryFn: () => fetchAll<Source>('/sources') })
}

export function useSource(id: string) {
  return useQuery({ queryKey: keys.source(id), queryFn: () => api<Source>(`/sources/${id}`) })
}

export function useCreateSource() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (input: NewSource) => api<Source>('/sources', { method: 'POST', body: input }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.sources }),
  })
}

export function useDeleteSource() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => api<void>(`/sources/${id}`, { method: 'DELETE' }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.sources }),
  })
}
