"""SQLAlchemy 2 ORM (psycopg 3 driver): create_all, inserts, joins, relationship loading."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import (
    CHAR,
    DateTime,
    Float,
    ForeignKey,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Uuid,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _models(suffix: str):  # type: ignore[no-untyped-def]
    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = f"authors_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        born: Mapped[dt.date | None]
        books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")

    class Book(Base):
        __tablename__ = f"books_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        price: Mapped[Decimal] = mapped_column(Numeric(8, 2))
        author_id: Mapped[int] = mapped_column(ForeignKey(f"authors_{suffix}.id"))
        author: Mapped[Author] = relationship(back_populates="books")
        # the other supported types, as SQLAlchemy maps them
        pages: Mapped[int | None] = mapped_column(SmallInteger)
        rating: Mapped[float | None] = mapped_column(Float)
        isbn: Mapped[str | None] = mapped_column(CHAR(13))
        in_print: Mapped[bool] = mapped_column(default=True)
        published: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
        added: Mapped[dt.datetime | None] = mapped_column(DateTime)
        loan: Mapped[dt.timedelta | None] = mapped_column(Interval)
        uid: Mapped[uuid.UUID | None] = mapped_column(Uuid)
        cover: Mapped[bytes | None] = mapped_column(LargeBinary)
        meta: Mapped[dict | None] = mapped_column(JSONB)
        tags: Mapped[list[str] | None] = mapped_column(ARRAY(String))

    return Base, Author, Book


def test_orm_create_insert_query_and_load(node):
    Base, Author, Book = _models(node.name)
    engine = create_engine(f"postgresql+psycopg://{node.user}@{node.host}:{node.port}/{node.dbname}")
    try:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        Base.metadata.create_all(engine)  # a second time: the tables are found, nothing happens
        with Session(engine) as session:
            ada = Author(name="Ada", born=dt.date(1815, 12, 10))
            ada.books = [Book(title="Notes", price=Decimal("9.99")), Book(title="Letters", price=Decimal("5"))]
            session.add_all([ada, Author(name="Grace")])
            session.commit()
        with Session(engine) as session:
            rows = session.execute(
                select(Author.name, func.count(Book.id))
                .join(Book, isouter=True)
                .group_by(Author.name)
                .order_by(Author.name)
            ).all()
            assert rows == [("Ada", 2), ("Grace", 0)]
            authors = session.scalars(select(Author).options(selectinload(Author.books)).order_by(Author.id)).all()
            assert [[b.title for b in a.books] for a in authors] == [["Notes", "Letters"], []]
            book = session.scalars(select(Book).options(joinedload(Book.author)).where(Book.price > 6)).one()
            assert (book.title, book.author.name) == ("Notes", "Ada")
            book.price = Decimal("12.50")
            session.commit()
            assert session.scalar(select(func.sum(Book.price))) == Decimal("17.50")
        typed = dict(
            pages=321, rating=4.5, isbn="9780000000001", in_print=False,
            published=dt.datetime(1843, 10, 1, 12, tzinfo=dt.UTC), added=dt.datetime(2024, 1, 2, 3, 4, 5),
            loan=dt.timedelta(days=14), uid=uuid.UUID(int=7), cover=b"\x00\x01png",
            meta={"edition": 2, "notes": [None, "x"]}, tags=["maths", "engines"],
        )  # fmt: skip
        with Session(engine) as session:
            ada = session.scalars(select(Author).where(Author.name == "Ada")).one()
            assert [b.title for b in ada.books] == ["Notes", "Letters"]  # lazy loading
            for name, value in typed.items():
                setattr(ada.books[0], name, value)
            session.commit()
        with Session(engine) as session:
            book = session.scalars(select(Book).where(Book.title == "Notes")).one()
            assert {name: getattr(book, name) for name in typed} == typed
            assert book.author.name == "Ada"  # many-to-one, lazy
            tagged = session.scalars(select(Book.title).where(Book.tags.contains(["maths"]))).all()
            assert tagged == ["Notes"]
    finally:
        engine.dispose()
