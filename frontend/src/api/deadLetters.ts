// Dead letters: deliveries that ran out of attempts.
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { DeadLetter, DeadLetterFilters, Page } from './types'

export function useDeadLetters(filters: DeadLetterFilters, limit = 50) {
  return useInfiniteQuery({
    queryKey: keys.deadLetters(filters),
    queryFn: ({ pageParam }) =>
      api<Page<DeadLetter>>('/dead-letters', { query: { ...filters, limit, cursor: pageParam } }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  })
}

function useDeadLetterMutation<TVars, TResult>(mutationFn: (vars: TVars) => Promise<TResult>) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn,
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: keys.allDeadLetters })
      queryClient.invalidateQueries({ queryKey: ['deliveries'] })
      // A replay or discard restarts a FIFO line paused on that dead letter.
      queryClient.invalidateQueries({ predicate: (query) => query.queryKey[0] === 'subscriptions' && query.queryKey[2] === 'line' })
    },
  })
}

/** `POST /dead-letters/{id}/replay`: the same delivery goes back to pending. */
export function useReplayDeadLetter() {
  return useDeadLetterMutation((id: string) =>
    api<unknown>(`/dead-letters/${id}/replay`, { method: 'POST' }),
  )
}

/** `DELETE /dead-letters/{id}`. */
export function useDiscardDeadLetter() {
  return useDeadLetterMutation((id: string) =>
    api<void>(`/dead-letters/${id}`, { method: 'DELETE' }),
  )
}

/** `POST /dead-letters/replay` for a subscription and/or a window. */
export function useBulkReplayDeadLetters() {
  return useDeadLetterMutation((filters: DeadLetterFilters) =>
    api<{ replayed: number }>('/dead-letters/replay', { method: 'POST', body: filters }),
  )
}
